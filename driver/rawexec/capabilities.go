//go:build unix

package rawexec

import "github.com/droverhq/drover/driver"

// raw_exec runs commands in its tasks (nomad alloc exec), signals them and
// measures them.
var (
	_ driver.ExecDriver   = (*Driver)(nil)
	_ driver.SignalDriver = (*Driver)(nil)
	_ driver.StatsDriver  = (*Driver)(nil)
)
