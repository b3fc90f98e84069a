//go:build unix

package rawexec

import "github.com/droverhq/drover/driver/internal/proc"

// ErrExitStatusUnknown is the Err of the exit result of a reattached task:
// it ended, but how is unknown.
var ErrExitStatusUnknown = proc.ErrExitStatusUnknown
