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
// ExitCode 143. A running task holds a timer, not a goroutine.
//
// The handle StartTask returns records the script and the start time, so
// RecoverTask on any instance (a client restarted with a new driver)
// reattaches: the task ends when its script says, counted from its
// original start. A task already held is recovered as it is.
package mock

import (
	"context"
	"encoding/json"
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
	mu    sync.Mutex
	timer *time.Timer // nil for a task that runs until stopped
	exit  *driver.Exit
}

// Exit implements driver.Exiting.
func (t *task) Exit() *driver.Exit { return t.exit }

// halt ends the task as stopped, unless it has ended already.
func (t *task) halt() {
	t.mu.Lock()
	if t.timer != nil {
		t.timer.Stop()
	}
	t.mu.Unlock()
	t.exit.Set(&driver.ExitResult{ExitCode: 128 + sigterm, Signal: sigterm})
}

// handleState is what a mock TaskHandle's State holds: the script.
type handleState struct {
	RunFor   time.Duration `json:"run_for"`
	ExitCode int           `json:"exit_code"`
	ExitErr  string        `json:"exit_err,omitempty"`
}

var _ driver.Driver = (*Driver)(nil)

// New returns a mock driver; logger may be nil.
func New(logger *slog.Logger) *Driver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Driver{logger: logger, tasks: driver.Tasks[*task]{Name: Name}}
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
	st := handleState{RunFor: s.runFor, ExitCode: s.exitCode, ExitErr: s.exitErr}
	state, err := json.Marshal(st)
	if err != nil {
		d.tasks.Release(cfg.ID)
		return nil, fmt.Errorf("mock: encode handle: %w", err)
	}
	now := time.Now()
	d.tasks.Fill(cfg.ID, run(st, st.RunFor))
	return &driver.TaskHandle{ID: cfg.ID, Driver: Name, StartedAt: now, State: state}, nil
}

// run starts a task that ends with the script's result after left (never
// when the script runs until stopped).
func run(st handleState, left time.Duration) *task {
	t := &task{exit: driver.NewExit()}
	if st.RunFor < 0 {
		return t
	}
	res := &driver.ExitResult{ExitCode: st.ExitCode}
	if st.ExitErr != "" {
		res.Err = errors.New(st.ExitErr)
	}
	t.mu.Lock()
	t.timer = time.AfterFunc(max(left, 0), func() { t.exit.Set(res) })
	t.mu.Unlock()
	return t
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

// WaitTask implements driver.Driver.
func (d *Driver) WaitTask(ctx context.Context, taskID string) (<-chan *driver.ExitResult, error) {
	return driver.WaitTask(ctx, &d.tasks, taskID)
}

// StopTask implements driver.Driver: a running task ends at once, as if
// killed by SIGTERM, whatever the timeout and signal.
func (d *Driver) StopTask(ctx context.Context, taskID string, _ time.Duration, _ string) error {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return err
	}
	t.halt()
	return t.exit.Await(ctx)
}

// DestroyTask implements driver.Driver.
func (d *Driver) DestroyTask(taskID string, force bool) error {
	t, err := driver.RemoveExited(&d.tasks, taskID, force)
	if err != nil {
		return err
	}
	t.halt()
	return nil
}

// RecoverTask implements driver.Driver. A task this instance holds is
// left as it is; otherwise the handle's script resumes from the handle's
// start time. A handle without a script is not found.
func (d *Driver) RecoverTask(h *driver.TaskHandle) error {
	if h == nil || h.ID == "" {
		return fmt.Errorf("mock: empty handle: %w", driver.ErrTaskNotFound)
	}
	if h.Driver != "" && h.Driver != Name {
		return fmt.Errorf("mock: handle of %s is for driver %q: %w", h.ID, h.Driver, driver.ErrTaskNotFound)
	}
	if d.tasks.Has(h.ID) {
		return nil
	}
	var st handleState
	if len(h.State) == 0 {
		return fmt.Errorf("mock: handle of %s holds no script: %w", h.ID, driver.ErrTaskNotFound)
	}
	if err := json.Unmarshal(h.State, &st); err != nil {
		return fmt.Errorf("mock: handle state of %s: %v: %w", h.ID, err, driver.ErrTaskNotFound)
	}
	t := run(st, st.RunFor-time.Since(h.StartedAt))
	if !d.tasks.Add(h.ID, t) {
		t.halt() // recovered concurrently: keep the other one
	}
	return nil
}

// Close ends every task the driver holds, as a stop would, so nothing of
// the driver outlives a test.
func (d *Driver) Close() {
	for _, t := range d.tasks.All() {
		t.halt()
	}
}
