package fn

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"time"

	"github.com/droverhq/drover/driver"
)

// task is one running function.
type task struct {
	id          string
	cancel      context.CancelFunc
	killTimeout time.Duration
	exit        *driver.Exit
}

// Exit implements driver.Exiting.
func (t *task) Exit() *driver.Exit { return t.exit }

// StartTask implements driver.Driver. The function runs with a context of
// its own, cancelled by StopTask or a forced DestroyTask, not by ctx.
func (d *Driver) StartTask(ctx context.Context, cfg *driver.TaskConfig) (*driver.TaskHandle, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fn: %w", err)
	}
	if err := driver.CheckKeys(cfg.Config, "func", "args"); err != nil {
		return nil, fmt.Errorf("fn: %w", err)
	}
	name, err := driver.ConfigString(cfg.Config, "func")
	if err != nil {
		return nil, fmt.Errorf("fn: %w", err)
	}
	if name == "" {
		return nil, fmt.Errorf("fn: %w: func is required", driver.ErrInvalidConfig)
	}
	args, err := driver.ConfigStrings(cfg.Config, "args")
	if err != nil {
		return nil, fmt.Errorf("fn: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	d.mu.Lock()
	f := d.funcs[name]
	d.mu.Unlock()
	if f == nil {
		return nil, fmt.Errorf("fn: %w: no function registered as %q", driver.ErrInvalidConfig, name)
	}
	if !d.tasks.Reserve(cfg.ID) {
		return nil, fmt.Errorf("fn: task %s already started", cfg.ID)
	}
	stdout, err := driver.OpenLog(cfg.StdoutPath)
	if err != nil {
		d.tasks.Release(cfg.ID)
		return nil, fmt.Errorf("fn: %w", err)
	}
	stderr, err := driver.OpenLog(cfg.StderrPath)
	if err != nil {
		stdout.Close()
		d.tasks.Release(cfg.ID)
		return nil, fmt.Errorf("fn: %w", err)
	}
	fctx, cancel := context.WithCancel(context.Background())
	t := &task{
		id: cfg.ID, cancel: cancel, killTimeout: cfg.KillTimeoutOrDefault(),
		exit: driver.NewExit(),
	}
	d.tasks.Fill(cfg.ID, t)
	ft := &Task{
		ID: cfg.ID, AllocID: cfg.AllocID, TaskName: cfg.TaskName, Args: slices.Clone(args),
		Env: maps.Clone(cfg.Env), Dir: cfg.TaskDir, Stdout: stdout, Stderr: stderr, Resources: cfg.Resources,
	}
	go func() {
		// Unless run returns, the function called runtime.Goexit.
		res := &driver.ExitResult{ExitCode: 1, Err: errGoexit}
		defer func() {
			cancel()
			stdout.Close()
			stderr.Close()
			if !t.exit.Set(res) {
				d.logger.Info("abandoned function returned", "task", t.id, "exit_code", res.ExitCode, "error", res.Err)
			}
		}()
		res = d.run(fctx, f, ft)
	}()
	return &driver.TaskHandle{ID: cfg.ID, Driver: Name, StartedAt: time.Now()}, nil
}

// errGoexit is the exit error of a function that called runtime.Goexit.
var errGoexit = errors.New("fn: function ended its goroutine without returning")

// run calls f, turning its error or panic into an exit result.
func (d *Driver) run(ctx context.Context, f Func, t *Task) (res *driver.ExitResult) {
	defer func() {
		if r := recover(); r != nil {
			pe := &PanicError{Value: r, Stack: debug.Stack()}
			d.logger.Error("function panicked", "task", t.ID, "panic", r, "stack", string(pe.Stack))
			res = &driver.ExitResult{ExitCode: 2, Err: pe}
		}
	}()
	err := f(ctx, t)
	if err == nil {
		return &driver.ExitResult{}
	}
	if ee, ok := errors.AsType[*ExitError](err); ok {
		if ee.Code == 0 && ee.Err == nil {
			return &driver.ExitResult{}
		}
		if ee.Err != nil {
			err = ee.Err
		}
		return &driver.ExitResult{ExitCode: ee.Code, Err: err}
	}
	return &driver.ExitResult{ExitCode: 1, Err: err}
}

// WaitTask implements driver.Driver.
func (d *Driver) WaitTask(ctx context.Context, taskID string) (<-chan *driver.ExitResult, error) {
	return driver.WaitTask(ctx, &d.tasks, taskID)
}

// StopTask implements driver.Driver: it cancels the function's context and
// waits up to timeout (0 means driver.DefaultKillTimeout) for it to return;
// then the task is reported ended with ErrAbandoned. Functions get no
// signals: signal is ignored.
func (d *Driver) StopTask(ctx context.Context, taskID string, timeout time.Duration, _ string) error {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = driver.DefaultKillTimeout
	}
	return d.stop(ctx, t, timeout)
}

func (d *Driver) stop(ctx context.Context, t *task, timeout time.Duration) error {
	t.cancel()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.exit.Done():
	case <-timer.C:
		if t.exit.Set(&driver.ExitResult{ExitCode: -1, Err: ErrAbandoned}) {
			d.logger.Warn("function did not return within its kill timeout; abandoning it",
				"task", t.id, "timeout", timeout)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// DestroyTask implements driver.Driver. With force, a running function is
// stopped first, waiting up to the task's kill timeout.
func (d *Driver) DestroyTask(taskID string, force bool) error {
	t, err := driver.RemoveExited(&d.tasks, taskID, force)
	if err != nil {
		return err
	}
	return d.stop(context.Background(), t, t.killTimeout)
}

// RecoverTask implements driver.Driver. A function runs in the host
// process, so only this Driver instance can hold it: a task it still holds
// (the client was restarted in the same process with the same driver) is
// reattached; any other handle is driver.ErrTaskNotFound.
func (d *Driver) RecoverTask(h *driver.TaskHandle) error {
	if h == nil || h.ID == "" {
		return fmt.Errorf("fn: empty handle: %w", driver.ErrTaskNotFound)
	}
	if h.Driver != "" && h.Driver != Name {
		return fmt.Errorf("fn: handle of %s is for driver %q: %w", h.ID, h.Driver, driver.ErrTaskNotFound)
	}
	if _, err := d.tasks.Get(h.ID); err != nil {
		return fmt.Errorf("fn: %s: functions do not survive a restart of their process: %w", h.ID, driver.ErrTaskNotFound)
	}
	return nil
}
