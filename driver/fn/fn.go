// Package fn is the fn driver: it runs Go functions of the host program as
// tasks. The host registers a function under a name, and a task with
// driver "fn" and config {"func": "<name>", "args": [...]} runs it in a
// goroutine of the host process.
//
// A function is told to stop by the cancellation of its context. It cannot
// be killed from outside: a stop, or a forced DestroyTask, waits up to the
// kill timeout for it to return, then reports the task ended (ExitCode -1,
// Err ErrAbandoned) and leaves the goroutine to finish on its own, still
// holding the task's log files. A function that panics ends its task with
// ExitCode 2 and a *PanicError; the host keeps running.
//
// An in-process function does not survive a restart of the host process:
// RecoverTask reattaches only to tasks the same Driver instance still
// holds, as after a client restarted within the process.
package fn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// Name is the driver's name in jobs.
const Name = "fn"

// Func is a task body. It should return when ctx is cancelled: that is how
// the task is stopped. Returning nil is exit code 0; an error is exit code
// 1, or the Code of an *ExitError in its chain (an ExitError with Code 0
// and no Err is a clean exit).
type Func func(ctx context.Context, t *Task) error

// Task is what a Func is told about the task it runs.
type Task struct {
	// ID is unique per task instance: "<allocID>/<taskName>".
	ID       string
	AllocID  string
	TaskName string
	// Args are the task config's args.
	Args []string
	// Env is the task's environment; the function's own copy.
	Env map[string]string
	// Dir is the task's working directory. The function runs in the host's
	// working directory; Dir is where it should keep its files.
	Dir string
	// Stdout and Stderr append to the task's log files.
	Stdout, Stderr io.Writer
	// Resources is what the task reserved; nothing enforces it.
	Resources *structs.Resources
}

// ExitError lets a Func choose its exit code.
type ExitError struct {
	Code int
	Err  error
}

// Error implements error.
func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return fmt.Sprintf("exit code %d: %v", e.Code, e.Err)
}

// Unwrap returns the underlying error.
func (e *ExitError) Unwrap() error { return e.Err }

// PanicError is the exit error of a task whose function panicked.
type PanicError struct {
	// Value is what the function panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// Error implements error.
func (e *PanicError) Error() string { return fmt.Sprintf("fn: function panicked: %v", e.Value) }

// Errors callers branch on.
var (
	// ErrAlreadyRegistered: Register with a name already taken.
	ErrAlreadyRegistered = errors.New("fn: function already registered")
	// ErrAbandoned is the exit error of a task whose function did not
	// return within its kill timeout after being cancelled.
	ErrAbandoned = errors.New("fn: function did not return after cancellation and was abandoned")
)

// Driver is the fn driver. Its methods are safe for concurrent use.
type Driver struct {
	logger *slog.Logger

	mu    sync.Mutex // guards funcs
	funcs map[string]Func
	tasks driver.Tasks[*task]
}

var _ driver.Driver = (*Driver)(nil)

// New returns an fn driver with no functions; logger may be nil.
func New(logger *slog.Logger) *Driver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Driver{logger: logger, funcs: map[string]Func{}, tasks: driver.Tasks[*task]{Name: Name}}
}

// Register makes f runnable under name. It fails for an empty name or a nil
// f, and with ErrAlreadyRegistered for a name already taken.
func (d *Driver) Register(name string, f Func) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("fn: a function needs a name")
	}
	if strings.Contains(name, ",") {
		return fmt.Errorf("fn: function name %q holds a comma", name)
	}
	if f == nil {
		return fmt.Errorf("fn: function %q has no body", name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.funcs[name] != nil {
		return fmt.Errorf("%w: %q", ErrAlreadyRegistered, name)
	}
	d.funcs[name] = f
	return nil
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return Name }

// Fingerprint implements driver.Driver. The registered names are published,
// sorted and comma-separated, as driver.fn.funcs, so constraints can
// require a function.
func (d *Driver) Fingerprint(context.Context) driver.Fingerprint {
	d.mu.Lock()
	names := make([]string, 0, len(d.funcs))
	for n := range d.funcs {
		names = append(names, n)
	}
	d.mu.Unlock()
	sort.Strings(names)
	return driver.Fingerprint{
		Detected: true, Healthy: true, HealthDescription: "healthy",
		Attributes: map[string]string{"driver.fn": "1", "driver.fn.funcs": strings.Join(names, ",")},
	}
}
