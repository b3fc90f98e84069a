package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// An operator restarts or signals a task through its runner, which alone
// changes the task's state: a request goes to the runner while it waits
// for the running task, and the runner answers it.

// errTaskNotRunning: the task is not running, so it cannot be restarted,
// signalled or exec'd into.
var errTaskNotRunning = errors.New("task is not running")

// restartNow is the exit that makes a task runner start its task again at
// once, outside its restart policy (an operator's restart).
var restartNow = &driver.ExitResult{ExitCode: -1, Err: errors.New("restarted by the operator")}

// ctlRequest is a restart (no signal) or a signal.
type ctlRequest struct {
	signal string
	reply  chan error
}

// taskControl is where requests reach a running task's runner.
type taskControl struct {
	mu   sync.Mutex
	ch   chan ctlRequest
	done chan struct{}
}

// open makes the runner reachable until the returned function is called.
func (c *taskControl) open() (<-chan ctlRequest, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, done := make(chan ctlRequest), make(chan struct{})
	c.ch, c.done = ch, done
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		close(done)
		c.ch, c.done = nil, nil
	}
}

// running reports whether the runner waits for its running task.
func (c *taskControl) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch != nil
}

// request hands req to the runner and waits for its answer.
func (c *taskControl) request(ctx context.Context, req ctlRequest) error {
	c.mu.Lock()
	ch, done := c.ch, c.done
	c.mu.Unlock()
	if ch == nil {
		return errTaskNotRunning
	}
	req.reply = make(chan error, 1)
	select {
	case ch <- req:
	case <-done:
		return errTaskNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// userRestart records an operator's restart before the task starts again.
func (t *taskRunner) userRestart() {
	t.st.Restarts++
	t.ar.c.metrics.taskRestarts.Inc()
	why := "task restarting at the operator's request"
	if t.restartWhy != "" {
		why, t.restartWhy = t.restartWhy, ""
	}
	t.event(structs.TaskEventRestarting, why, nil)
	t.st.State = structs.TaskStatePending
	t.publish()
}

// signal sends req's signal to the running task and answers req.
func (t *taskRunner) signal(cfg *driver.TaskConfig, req ctlRequest) {
	sd, ok := t.drv.(driver.SignalDriver)
	if !ok {
		req.reply <- fmt.Errorf("%w: driver %s cannot signal its tasks: %w", structs.ErrBadRequest, t.task.Driver, driver.ErrNotSupported)
		return
	}
	t.event(structs.TaskEventSignaling, "task being sent signal "+req.signal, nil)
	t.publish()
	err := sd.SignalTask(cfg.ID, req.signal)
	if err != nil && !errors.Is(err, driver.ErrTaskNotFound) {
		err = fmt.Errorf("%w: %w", structs.ErrBadRequest, err)
	}
	req.reply <- err
}

// taskRunners returns the allocation's task runners, by name; empty before
// the allocation's runner has set them up.
func (r *allocRunner) taskRunners() map[string]*taskRunner {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tasks
}

// task finds a task runner by name.
func (r *allocRunner) task(name string) (*taskRunner, error) {
	tr := r.taskRunners()[name]
	if tr == nil {
		return nil, fmt.Errorf("%w: unknown task name %s", structs.ErrBadRequest, structs.Quote(name))
	}
	return tr, nil
}

// restartTasks restarts one running task, or with all every running task
// of the allocation.
func (c *Client) restartTasks(ctx context.Context, allocID, task string, all bool) error {
	r, err := c.allocRunner(allocID)
	if err != nil {
		return err
	}
	if all || task == "" {
		var errs []error
		for name, tr := range r.taskRunners() {
			if err := tr.ctl.request(ctx, ctlRequest{}); err != nil && !errors.Is(err, errTaskNotRunning) {
				errs = append(errs, fmt.Errorf("task %s: %w", name, err))
			}
		}
		return errors.Join(errs...)
	}
	tr, err := r.task(task)
	if err != nil {
		return err
	}
	return notRunning(tr.ctl.request(ctx, ctlRequest{}), task)
}

// signalTasks signals one running task, or (no task) every running task.
func (c *Client) signalTasks(ctx context.Context, allocID, task, signal string) error {
	if signal == "" {
		signal = "SIGKILL"
	}
	if _, err := driver.ParseSignal(signal); err != nil {
		return fmt.Errorf("%w: %w", structs.ErrBadRequest, err)
	}
	r, err := c.allocRunner(allocID)
	if err != nil {
		return err
	}
	if task == "" {
		var errs []error
		for name, tr := range r.taskRunners() {
			if err := tr.ctl.request(ctx, ctlRequest{signal: signal}); err != nil && !errors.Is(err, errTaskNotRunning) {
				errs = append(errs, fmt.Errorf("task %s: %w", name, err))
			}
		}
		return errors.Join(errs...)
	}
	tr, err := r.task(task)
	if err != nil {
		return err
	}
	return notRunning(tr.ctl.request(ctx, ctlRequest{signal: signal}), task)
}

// notRunning turns errTaskNotRunning into a bad request naming the task.
func notRunning(err error, task string) error {
	if errors.Is(err, errTaskNotRunning) {
		return fmt.Errorf("%w: task %s is not running", structs.ErrBadRequest, structs.Quote(task))
	}
	return err
}
