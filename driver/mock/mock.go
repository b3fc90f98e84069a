// Package mock is a driver for tests: tasks run for a scripted time and end
// with a scripted exit code, or fail to start. No process is involved.
//
// Config keys:
//   - run_for: how long the task runs, as a duration string like "100ms".
//     "" or "0" exits at once; a negative one such as "-1" or "-1s" runs
//     until stopped. The numbers 0 and -1 are accepted too.
//   - exit_code: the exit code (a whole number).
//   - exit_err_msg: reported as the exit result's Err.
//   - start_error: StartTask fails with an error wrapping ErrStartFailed
//     and holding this text.
//   - stdout_string: written to the task's stdout file at start.
//   - kill_after: accepted and ignored.
//
// A stopped task exits as a process killed by SIGTERM would: Signal 15,
// ExitCode 143. RecoverTask finds only tasks of the same Driver instance.
package mock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/droverhq/drover/driver"
)

// Name is the driver's name in jobs.
const Name = "mock"

// sigterm is the signal a stopped mock task reports.
const sigterm = 15

// ErrStartFailed is wrapped by StartTask's error for a task whose config
// sets start_error.
var ErrStartFailed = errors.New("mock: start failed")

// Driver is the mock driver. Its methods are safe for concurrent use.
type Driver struct {
	logger *slog.Logger
	tasks  driver.Tasks[*task]
}

type task struct {
	stop     chan struct{}
	stopOnce sync.Once
	exit     *driver.Exit
}

// halt asks the task's goroutine to end the task as stopped.
func (t *task) halt() { t.stopOnce.Do(func() { close(t.stop) }) }

var _ driver.Driver = (*Driver)(nil)

// New returns a mock driver; logger may be nil.
func New(logger *slog.Logger) *Driver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Driver{logger: logger}
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return Name }

// Fingerprint implements driver.Driver.
func (d *Driver) Fingerprint(context.Context) driver.Fingerprint {
	return driver.Fingerprint{
		Detected: true, Healthy: true, HealthDescription: "healthy",
		Attributes: map[string]string{"driver.mock": "1"},
	}
}

// StartTask implements driver.Driver.
func (d *Driver) StartTask(_ context.Context, cfg *driver.TaskConfig) (*driver.TaskHandle, error) {
	s, err := parseConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("mock: %w", err)
	}
	if s.startError != "" {
		return nil, fmt.Errorf("%w: %s", ErrStartFailed, s.startError)
	}
	if !d.tasks.Reserve(cfg.ID) {
		return nil, fmt.Errorf("mock: task %s already started", cfg.ID)
	}
	if s.stdout != "" {
		if err := writeStdout(cfg.StdoutPath, s.stdout); err != nil {
			d.tasks.Release(cfg.ID)
			return nil, fmt.Errorf("mock: %w", err)
		}
	}
	t := &task{stop: make(chan struct{}), exit: driver.NewExit()}
	d.tasks.Fill(cfg.ID, t)
	res := &driver.ExitResult{ExitCode: s.exitCode}
	if s.exitErr != "" {
		res.Err = errors.New(s.exitErr)
	}
	go t.run(s.runFor, res)
	return &driver.TaskHandle{ID: cfg.ID, Driver: Name, StartedAt: time.Now()}, nil
}

// run ends the task with res after runFor (never when negative), or as
// stopped by SIGTERM when halted first.
func (t *task) run(runFor time.Duration, res *driver.ExitResult) {
	var done <-chan time.Time
	if runFor >= 0 {
		timer := time.NewTimer(runFor)
		defer timer.Stop()
		done = timer.C
	}
	select {
	case <-done:
		t.exit.Set(res)
	case <-t.stop:
		t.exit.Set(&driver.ExitResult{ExitCode: 128 + sigterm, Signal: sigterm})
	}
}

func writeStdout(path, s string) error {
	f, err := driver.OpenLog(path)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return fmt.Errorf("write stdout: %w", err)
	}
	return f.Close()
}

func (d *Driver) get(id string) (*task, error) {
	t, err := d.tasks.Get(id)
	if err != nil {
		return nil, fmt.Errorf("mock: %w", err)
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

// StopTask implements driver.Driver: a running task ends at once, as if
// killed by SIGTERM, whatever the timeout and signal.
func (d *Driver) StopTask(ctx context.Context, taskID string, _ time.Duration, _ string) error {
	t, err := d.get(taskID)
	if err != nil {
		return err
	}
	t.halt()
	select {
	case <-t.exit.Done():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DestroyTask implements driver.Driver.
func (d *Driver) DestroyTask(taskID string, force bool) error {
	t, err := d.tasks.Remove(taskID, func(t *task) error {
		if !force && t.exit.Result() == nil {
			return fmt.Errorf("task %s: %w", taskID, driver.ErrTaskRunning)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mock: %w", err)
	}
	t.halt()
	<-t.exit.Done()
	return nil
}

// RecoverTask implements driver.Driver: only a task this same instance
// still holds is found.
func (d *Driver) RecoverTask(h *driver.TaskHandle) error {
	if h == nil {
		return fmt.Errorf("mock: empty handle: %w", driver.ErrTaskNotFound)
	}
	if h.Driver != "" && h.Driver != Name {
		return fmt.Errorf("mock: handle of %s is for driver %q: %w", h.ID, h.Driver, driver.ErrTaskNotFound)
	}
	_, err := d.get(h.ID)
	return err
}
