//go:build !unix

package rawexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/droverhq/drover/driver"
)

// Driver is the raw_exec driver; off unix every method reports
// errors.ErrUnsupported and Fingerprint reports it not detected.
type Driver struct {
	// PollInterval is unused off unix.
	PollInterval time.Duration
}

var _ driver.Driver = (*Driver)(nil)

var errUnsupported = fmt.Errorf("raw_exec: %w on this platform", errors.ErrUnsupported)

// New returns a raw_exec driver that cannot run tasks on this platform.
func New(*slog.Logger) *Driver { return &Driver{} }

// Name implements driver.Driver.
func (d *Driver) Name() string { return Name }

// Fingerprint implements driver.Driver: not detected.
func (d *Driver) Fingerprint(context.Context) driver.Fingerprint {
	return driver.Fingerprint{HealthDescription: "raw_exec is supported on unix only"}
}

// StartTask implements driver.Driver: unsupported.
func (d *Driver) StartTask(context.Context, *driver.TaskConfig) (*driver.TaskHandle, error) {
	return nil, errUnsupported
}

// WaitTask implements driver.Driver: no task is ever found.
func (d *Driver) WaitTask(_ context.Context, id string) (<-chan *driver.ExitResult, error) {
	return nil, fmt.Errorf("raw_exec: %s: %w", id, driver.ErrTaskNotFound)
}

// StopTask implements driver.Driver: no task is ever found.
func (d *Driver) StopTask(_ context.Context, id string, _ time.Duration, _ string) error {
	return fmt.Errorf("raw_exec: %s: %w", id, driver.ErrTaskNotFound)
}

// DestroyTask implements driver.Driver: no task is ever found.
func (d *Driver) DestroyTask(id string, _ bool) error {
	return fmt.Errorf("raw_exec: %s: %w", id, driver.ErrTaskNotFound)
}

// RecoverTask implements driver.Driver: no task is ever found.
func (d *Driver) RecoverTask(*driver.TaskHandle) error {
	return fmt.Errorf("raw_exec: %w: %w", driver.ErrTaskNotFound, errUnsupported)
}

// ErrExitStatusUnknown is the Err of the exit result of a reattached task;
// off unix no task is ever reattached.
var ErrExitStatusUnknown = errors.New("exit status unknown after reattach")
