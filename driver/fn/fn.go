// Package fn runs Go functions of the host program as tasks: the host
// registers a function under a name, and a task with driver "fn" and config
// {"func": "<name>", "args": [...]} runs it in a goroutine.
//
// A function cannot be killed from outside: a stop cancels its context and
// waits up to the kill timeout; a function that ignores its context is
// reported stopped and left to finish on its own. An in-process function
// does not survive a restart of the client, so RecoverTask always fails.
package fn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// Name is the driver's name in jobs.
const Name = "fn"

// Func is a task body. It should return when ctx is cancelled.
type Func func(ctx context.Context, t *Task) error

// Task is what a Func is told about the task it runs.
type Task struct {
	ID, AllocID, TaskName string
	Args                  []string
	Env                   map[string]string
	Dir                   string
	Stdout, Stderr        io.Writer
	Resources             *structs.Resources
}

// ExitError lets a Func choose its exit code.
type ExitError struct {
	Code int
	Err  error
}

// Error describes the exit code and the underlying error.
func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return fmt.Sprintf("exit code %d: %v", e.Code, e.Err)
}

// Unwrap returns the underlying error.
func (e *ExitError) Unwrap() error { return e.Err }

// Driver is the fn driver.
type Driver struct {
	logger *slog.Logger

	mu    sync.Mutex
	funcs map[string]Func
	tasks driver.Tasks[*task]
}

type task struct {
	cancel context.CancelFunc
	exit   *driver.Exit
}

var _ driver.Driver = (*Driver)(nil)

// New returns an fn driver with no functions; logger may be nil.
func New(logger *slog.Logger) *Driver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Driver{logger: logger, funcs: map[string]Func{}}
}

// Register makes f runnable under name.
func (d *Driver) Register(name string, f Func) error {
	if name == "" || f == nil {
		return errors.New("fn: a function needs a name and a body")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.funcs[name] != nil {
		return fmt.Errorf("fn: function %q is already registered", name)
	}
	d.funcs[name] = f
	return nil
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return Name }

// Fingerprint implements driver.Driver; the registered names are published
// as driver.fn.funcs, so constraints can require a function.
func (d *Driver) Fingerprint(context.Context) driver.Fingerprint {
	d.mu.Lock()
	names := make([]string, 0, len(d.funcs))
	for n := range d.funcs {
		names = append(names, n)
	}
	d.mu.Unlock()
	sort.Strings(names)
	return driver.Fingerprint{Detected: true, Healthy: true, HealthDescription: "healthy",
		Attributes: map[string]string{"driver.fn": "1", "driver.fn.funcs": strings.Join(names, ",")}}
}

// StartTask implements driver.Driver.
func (d *Driver) StartTask(_ context.Context, cfg *driver.TaskConfig) (*driver.TaskHandle, error) {
	name, err := driver.ConfigString(cfg.Config, "func")
	if err != nil {
		return nil, err
	}
	args, err := driver.ConfigStrings(cfg.Config, "args")
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	f := d.funcs[name]
	d.mu.Unlock()
	if f == nil {
		return nil, fmt.Errorf("%w: no function registered as %q", driver.ErrInvalidConfig, name)
	}
	if d.tasks.Has(cfg.ID) {
		return nil, fmt.Errorf("fn: task %s already started", cfg.ID)
	}
	stdout, err := openLog(cfg.StdoutPath)
	if err != nil {
		return nil, err
	}
	stderr, err := openLog(cfg.StderrPath)
	if err != nil {
		stdout.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &task{cancel: cancel, exit: driver.NewExit()}
	if !d.tasks.Add(cfg.ID, t) {
		cancel()
		stdout.Close()
		stderr.Close()
		return nil, fmt.Errorf("fn: task %s already started", cfg.ID)
	}
	ft := &Task{ID: cfg.ID, AllocID: cfg.AllocID, TaskName: cfg.TaskName, Args: args, Env: cfg.Env,
		Dir: cfg.TaskDir, Stdout: stdout, Stderr: stderr, Resources: cfg.Resources}
	go func() {
		defer stdout.Close()
		defer stderr.Close()
		t.exit.Set(run(ctx, f, ft))
	}()
	return &driver.TaskHandle{ID: cfg.ID, Driver: Name, StartedAt: time.Now()}, nil
}

// run calls f, turning its error or panic into an exit result.
func run(ctx context.Context, f Func, t *Task) (res *driver.ExitResult) {
	defer func() {
		if r := recover(); r != nil {
			res = &driver.ExitResult{ExitCode: 2, Err: fmt.Errorf("fn: task panicked: %v", r)}
		}
	}()
	err := f(ctx, t)
	if err == nil {
		return &driver.ExitResult{}
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return &driver.ExitResult{ExitCode: ee.Code, Err: ee.Err}
	}
	return &driver.ExitResult{ExitCode: 1, Err: err}
}

func openLog(path string) (*os.File, error) {
	if path == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fn: open log: %w", err)
	}
	return f, nil
}

// WaitTask implements driver.Driver.
func (d *Driver) WaitTask(ctx context.Context, taskID string) (<-chan *driver.ExitResult, error) {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return nil, err
	}
	return t.exit.Wait(ctx), nil
}

// StopTask implements driver.Driver: cancel the function's context and wait
// up to timeout for it to return.
func (d *Driver) StopTask(ctx context.Context, taskID string, timeout time.Duration, _ string) error {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return err
	}
	t.cancel()
	if timeout <= 0 {
		timeout = driver.DefaultKillTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.exit.Done():
	case <-timer.C:
		d.logger.Warn("function did not return within its kill timeout; abandoning it", "task", taskID)
		t.exit.Set(&driver.ExitResult{ExitCode: 1, Err: errors.New("fn: function ignored cancellation and was abandoned")})
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// DestroyTask implements driver.Driver.
func (d *Driver) DestroyTask(taskID string, force bool) error {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return err
	}
	if t.exit.Result() == nil {
		if !force {
			return fmt.Errorf("fn: %s: %w", taskID, driver.ErrTaskRunning)
		}
		t.cancel()
	}
	d.tasks.Delete(taskID)
	return nil
}

// RecoverTask implements driver.Driver; functions never survive a restart.
func (d *Driver) RecoverTask(h *driver.TaskHandle) error {
	return fmt.Errorf("fn: functions do not survive a client restart: %w", driver.ErrTaskNotFound)
}
