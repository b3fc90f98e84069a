//go:build unix

package rawexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"github.com/droverhq/drover/driver"
)

// DefaultPollInterval is how often a reattached process is checked for exit.
const DefaultPollInterval = time.Second

// destroyWait bounds how long DestroyTask waits for a killed task to be
// seen exiting.
const destroyWait = 5 * time.Second

// Driver is the raw_exec driver. Its methods are safe for concurrent use.
type Driver struct {
	logger *slog.Logger

	// PollInterval is how often a reattached process is checked for exit;
	// 0 means DefaultPollInterval. Set it before calling RecoverTask.
	PollInterval time.Duration

	tasks driver.Tasks[*task]
}

// task is one process the driver started or reattached to.
type task struct {
	id  string
	pid int
	// pgid is the process group a stop signals; 0 when only pid may be
	// signalled (a reattached process sharing a group with this one).
	pgid int
	// startTime identifies the process beyond its pid; 0 if unknown.
	startTime  uint64
	reattached bool
	exit       *driver.Exit
	// stopPoll ends the watch of a reattached process.
	stopPoll chan struct{}
}

var _ driver.Driver = (*Driver)(nil)

// New returns a raw_exec driver; logger may be nil.
func New(logger *slog.Logger) *Driver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Driver{logger: logger}
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return Name }

// Fingerprint implements driver.Driver: raw_exec works on any unix host.
func (d *Driver) Fingerprint(context.Context) driver.Fingerprint {
	return driver.Fingerprint{
		Detected: true, Healthy: true, HealthDescription: "healthy",
		Attributes: map[string]string{"driver.raw_exec": "1"},
	}
}

func (d *Driver) get(id string) (*task, error) {
	t, err := d.tasks.Get(id)
	if err != nil {
		return nil, fmt.Errorf("raw_exec: %w", err)
	}
	return t, nil
}

// WaitTask implements driver.Driver.
func (d *Driver) WaitTask(ctx context.Context, taskID string) (<-chan *driver.ExitResult, error) {
	t, err := d.get(taskID)
	if err != nil {
		return nil, err
	}
	return t.exit.Wait(ctx), nil
}

// StopTask implements driver.Driver: it sends signal ("" means SIGINT) to
// the task's process group and, if the task has not exited after timeout
// (0 means driver.DefaultKillTimeout), SIGKILL.
func (d *Driver) StopTask(ctx context.Context, taskID string, timeout time.Duration, signal string) error {
	t, err := d.get(taskID)
	if err != nil {
		return err
	}
	sig, err := driver.ParseSignal(signal)
	if err != nil {
		return fmt.Errorf("raw_exec: stop %s: %w", taskID, err)
	}
	if timeout <= 0 {
		timeout = driver.DefaultKillTimeout
	}
	if t.exit.Result() != nil {
		return nil
	}
	if err := t.signal(sig); err != nil {
		return fmt.Errorf("raw_exec: signal %s: %w", taskID, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.exit.Done():
		return nil
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	d.logger.Debug("kill timeout reached, killing task", "task", taskID, "timeout", timeout)
	if err := t.signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("raw_exec: kill %s: %w", taskID, err)
	}
	select {
	case <-t.exit.Done():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DestroyTask implements driver.Driver. Whatever is left of the task's
// process group, such as children that outlived the main process, is
// killed.
func (d *Driver) DestroyTask(taskID string, force bool) error {
	t, err := d.tasks.Remove(taskID, func(t *task) error {
		if !force && t.exit.Result() == nil {
			return fmt.Errorf("task %s: %w", taskID, driver.ErrTaskRunning)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("raw_exec: %w", err)
	}
	running := t.exit.Result() == nil

	if err := t.signal(syscall.SIGKILL); err != nil {
		d.logger.Warn("killing task's processes", "task", taskID, "error", err)
	}
	if running {
		timer := time.NewTimer(destroyWait)
		select {
		case <-t.exit.Done():
		case <-timer.C:
			d.logger.Warn("task did not exit after SIGKILL", "task", taskID, "pid", t.pid)
		}
		timer.Stop()
	}
	if t.stopPoll != nil {
		close(t.stopPoll)
	}
	return nil
}

// signal sends sig to the task's process group, or to its process alone
// when it has no group of its own. A task already gone is not an error.
func (t *task) signal(sig syscall.Signal) error {
	var err error
	switch {
	case t.pgid > 1:
		err = syscall.Kill(-t.pgid, sig)
	case t.reattached && !sameProcess(t.pid, t.startTime):
		return nil
	default:
		err = syscall.Kill(t.pid, sig)
	}
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}
