//go:build unix

package rawexec

import (
	"log/slog"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/internal/proc"
)

// DefaultPollInterval is how often a reattached process is checked for exit.
const DefaultPollInterval = proc.DefaultPollInterval

// Driver is the raw_exec driver. Its methods are safe for concurrent use;
// set PollInterval before calling RecoverTask.
type Driver struct {
	*proc.Driver
}

var _ driver.Driver = (*Driver)(nil)

// New returns a raw_exec driver; logger may be nil.
func New(logger *slog.Logger) *Driver {
	return &Driver{Driver: proc.New(proc.Options{Name: Name, Logger: logger})}
}
