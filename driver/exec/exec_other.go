//go:build !linux

package exec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/droverhq/drover/driver"
)

// ErrExitStatusUnknown is the Err of the exit result of a reattached task;
// off Linux no task is ever reattached.
var ErrExitStatusUnknown = errors.New("exit status unknown after reattach")

// Options configure the exec driver; off Linux they change nothing.
type Options struct {
	Logger      *slog.Logger
	CgroupMount string
	NoCgroups   bool
	ChrootEnv   map[string]string
	NoIsolation bool
}

// Driver is the exec driver; off Linux every method reports
// errors.ErrUnsupported and Fingerprint reports it not detected.
type Driver struct {
	// PollInterval is unused off Linux.
	PollInterval time.Duration
}

var _ driver.Driver = (*Driver)(nil)

var errUnsupported = fmt.Errorf("exec: %w on this platform", errors.ErrUnsupported)

// New returns an exec driver that cannot run tasks on this platform.
func New(*slog.Logger) *Driver { return &Driver{} }

// NewWithOptions returns an exec driver that cannot run tasks on this platform.
func NewWithOptions(Options) *Driver { return &Driver{} }

// Name implements driver.Driver.
func (d *Driver) Name() string { return Name }

// Fingerprint implements driver.Driver: not detected.
func (d *Driver) Fingerprint(context.Context) driver.Fingerprint {
	return driver.Fingerprint{HealthDescription: "exec is supported on Linux only"}
}

// Limited reports false: no limits off Linux.
func (d *Driver) Limited() bool { return false }

// Isolated reports false: no isolation off Linux.
func (d *Driver) Isolated() bool { return false }

// Cgroup returns "": no cgroups off Linux.
func (d *Driver) Cgroup(string) string { return "" }

// CgroupV1 returns nil: no cgroups off Linux.
func (d *Driver) CgroupV1(string) map[string]string { return nil }

// StartTask implements driver.Driver: unsupported.
func (d *Driver) StartTask(context.Context, *driver.TaskConfig) (*driver.TaskHandle, error) {
	return nil, errUnsupported
}

// WaitTask implements driver.Driver: no task is ever found.
func (d *Driver) WaitTask(_ context.Context, id string) (<-chan *driver.ExitResult, error) {
	return nil, fmt.Errorf("exec: %s: %w", id, driver.ErrTaskNotFound)
}

// StopTask implements driver.Driver: no task is ever found.
func (d *Driver) StopTask(_ context.Context, id string, _ time.Duration, _ string) error {
	return fmt.Errorf("exec: %s: %w", id, driver.ErrTaskNotFound)
}

// DestroyTask implements driver.Driver: no task is ever found.
func (d *Driver) DestroyTask(id string, _ bool) error {
	return fmt.Errorf("exec: %s: %w", id, driver.ErrTaskNotFound)
}

// RecoverTask implements driver.Driver: no task is ever found.
func (d *Driver) RecoverTask(*driver.TaskHandle) error {
	return fmt.Errorf("exec: %w: %w", driver.ErrTaskNotFound, errUnsupported)
}
