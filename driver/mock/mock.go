// Package mock is a driver for tests: tasks run for a scripted time and end
// with a scripted exit code, or fail to start.
//
// Config keys: run_for (duration like "100ms"; "" or "0" exits at once;
// a negative one such as "-1s" runs until stopped), exit_code (number),
// exit_err_msg (string reported as the exit error), start_error (string:
// StartTask fails with it).
package mock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/droverhq/drover/driver"
)

// Name is the driver's name in jobs.
const Name = "mock"

// Driver is the mock driver.
type Driver struct {
	logger *slog.Logger
	tasks  driver.Tasks[*task]
}

type task struct {
	stop chan struct{}
	once sync.Once
	exit *driver.Exit
}

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
	return driver.Fingerprint{Detected: true, Healthy: true, HealthDescription: "healthy",
		Attributes: map[string]string{"driver.mock": "1"}}
}

// StartTask implements driver.Driver.
func (d *Driver) StartTask(_ context.Context, cfg *driver.TaskConfig) (*driver.TaskHandle, error) {
	runFor, err := parseRunFor(cfg.Config)
	if err != nil {
		return nil, err
	}
	code, err := driver.ConfigInt(cfg.Config, "exit_code")
	if err != nil {
		return nil, err
	}
	msg, err := driver.ConfigString(cfg.Config, "exit_err_msg")
	if err != nil {
		return nil, err
	}
	startErr, err := driver.ConfigString(cfg.Config, "start_error")
	if err != nil {
		return nil, err
	}
	if startErr != "" {
		return nil, errors.New(startErr)
	}
	t := &task{stop: make(chan struct{}), exit: driver.NewExit()}
	if !d.tasks.Add(cfg.ID, t) {
		return nil, fmt.Errorf("mock: task %s already started", cfg.ID)
	}
	res := &driver.ExitResult{ExitCode: code}
	if msg != "" {
		res.Err = errors.New(msg)
	}
	go func() {
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
			t.exit.Set(&driver.ExitResult{ExitCode: 128 + int(syscall.SIGTERM), Signal: int(syscall.SIGTERM)})
		}
	}()
	return &driver.TaskHandle{ID: cfg.ID, Driver: Name, StartedAt: time.Now()}, nil
}

func parseRunFor(cfg map[string]any) (time.Duration, error) {
	s, err := driver.ConfigString(cfg, "run_for")
	if err != nil {
		return 0, err
	}
	switch s {
	case "", "0":
		return 0, nil
	case "-1":
		return -1, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: run_for: %v", driver.ErrInvalidConfig, err)
	}
	if d < 0 {
		return -1, nil
	}
	return d, nil
}

// WaitTask implements driver.Driver.
func (d *Driver) WaitTask(ctx context.Context, taskID string) (<-chan *driver.ExitResult, error) {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return nil, err
	}
	return t.exit.Wait(ctx), nil
}

// StopTask implements driver.Driver.
func (d *Driver) StopTask(ctx context.Context, taskID string, _ time.Duration, _ string) error {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return err
	}
	t.once.Do(func() { close(t.stop) })
	select {
	case <-t.exit.Done():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DestroyTask implements driver.Driver.
func (d *Driver) DestroyTask(taskID string, force bool) error {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return err
	}
	if t.exit.Result() == nil {
		if !force {
			return fmt.Errorf("mock: %s: %w", taskID, driver.ErrTaskRunning)
		}
		t.once.Do(func() { close(t.stop) })
		<-t.exit.Done()
	}
	d.tasks.Delete(taskID)
	return nil
}

// RecoverTask implements driver.Driver: only tasks of this same instance
// can be found again.
func (d *Driver) RecoverTask(h *driver.TaskHandle) error {
	if h == nil {
		return fmt.Errorf("mock: empty handle: %w", driver.ErrTaskNotFound)
	}
	_, err := d.tasks.Get(h.ID)
	return err
}
