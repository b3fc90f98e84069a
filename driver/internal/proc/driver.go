//go:build unix

// Package proc runs tasks as host processes: the part raw_exec and exec
// share. Each task leads its own process group so a stop reaches every
// process it started; an Isolation (exec's cgroup) may confine the task
// further. After a client restart a task's process is reattached by pid,
// checked against the start time its handle recorded.
package proc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"syscall"
	"time"

	"github.com/droverhq/drover/driver"
)

// DefaultPollInterval is how often a reattached process is checked for exit.
const DefaultPollInterval = time.Second

// destroyWait bounds how long DestroyTask waits for a killed task to be
// seen exiting.
const destroyWait = 5 * time.Second

// ErrExitStatusUnknown is the Err of the exit result of a reattached task:
// it ended, but how is unknown.
var ErrExitStatusUnknown = errors.New("exit status unknown after reattach")

// Isolation confines the processes of tasks beyond their process group.
type Isolation interface {
	// Prepare returns the confinement of a task about to start.
	Prepare(cfg *driver.TaskConfig) (Confinement, error)
	// Reopen returns the confinement a handle recorded (Confinement.State).
	Reopen(state json.RawMessage) (Confinement, error)
}

// Confinement is one task's share of an Isolation.
type Confinement interface {
	// OwnRoot reports whether the task runs in a root of its own, where
	// the confinement finds its command: the driver then leaves the
	// command as the job wrote it instead of looking it up on the host.
	OwnRoot() bool
	// Apply adapts the command about to start, which is complete (path,
	// arguments, environment, stdio, process group): it may set its
	// cgroup, or wrap it in an init that sets the task up.
	Apply(cmd *exec.Cmd) error
	// Started is called once the start has been tried, with its error, to
	// release what Apply held for it. After a successful start it may
	// still fail the task (its setup failed); the driver then kills it.
	Started(startErr error) error
	// Exited may correct the exit result of the process the driver
	// started (the task's own, when the process was its init).
	Exited(res *driver.ExitResult) *driver.ExitResult
	// KillAll kills every process of the task, in its group or not.
	KillAll() error
	// Release frees the confinement once the task is gone.
	Release() error
	// State is recorded in the task's handle for Reopen.
	State() json.RawMessage
	// Warnings tell what the confinement could not do, e.g. enforce limits.
	Warnings() []string
}

// Options configure a Driver.
type Options struct {
	// Name is the driver's name in jobs and errors.
	Name string
	// Logger may be nil.
	Logger *slog.Logger
	// Isolation may be nil: processes are only grouped.
	Isolation Isolation
}

// Driver runs tasks as processes. Its methods are safe for concurrent use.
type Driver struct {
	name      string
	logger    *slog.Logger
	isolation Isolation

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
	confined   Confinement // nil without isolation
	exit       *driver.Exit
	// stopPoll ends the watch of a reattached process.
	stopPoll chan struct{}
	// usage remembers the last measurement, for cpu percentages.
	usage usageSample
}

// Exit implements driver.Exiting.
func (t *task) Exit() *driver.Exit { return t.exit }

// New returns a process driver.
func New(o Options) *Driver {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Driver{name: o.Name, logger: o.Logger, isolation: o.Isolation, tasks: driver.Tasks[*task]{Name: o.Name}}
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return d.name }

// Fingerprint implements driver.Driver: processes run on any unix host.
func (d *Driver) Fingerprint(context.Context) driver.Fingerprint {
	return driver.Fingerprint{
		Detected: true, Healthy: true, HealthDescription: "healthy",
		Attributes: map[string]string{"driver." + d.name: "1"},
	}
}

func (d *Driver) errorf(format string, args ...any) error {
	return fmt.Errorf(d.name+": "+format, args...)
}

// WaitTask implements driver.Driver.
func (d *Driver) WaitTask(ctx context.Context, taskID string) (<-chan *driver.ExitResult, error) {
	return driver.WaitTask(ctx, &d.tasks, taskID)
}

// StopTask implements driver.Driver: it sends signal ("" means SIGINT) to
// the task's process group and, if the task has not exited after timeout
// (0 means driver.DefaultKillTimeout), SIGKILL to the group and every
// process the confinement holds.
func (d *Driver) StopTask(ctx context.Context, taskID string, timeout time.Duration, signal string) error {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return err
	}
	sig, err := driver.ParseSignal(signal)
	if err != nil {
		return d.errorf("stop %s: %w", taskID, err)
	}
	if timeout <= 0 {
		timeout = driver.DefaultKillTimeout
	}
	if t.exit.Result() != nil {
		return nil
	}
	if err := t.signal(sig); err != nil {
		return d.errorf("signal %s: %w", taskID, err)
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
	if err := t.kill(); err != nil {
		return d.errorf("kill %s: %w", taskID, err)
	}
	return t.exit.Await(ctx)
}

// DestroyTask implements driver.Driver. Whatever is left of the task's
// processes, such as children that outlived the main process, is killed,
// and the confinement released.
func (d *Driver) DestroyTask(taskID string, force bool) error {
	t, err := driver.RemoveExited(&d.tasks, taskID, force)
	if err != nil {
		return err
	}
	running := t.exit.Result() == nil

	if err := t.kill(); err != nil {
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
	if t.confined != nil {
		if err := t.confined.Release(); err != nil {
			return d.errorf("release %s: %w", taskID, err)
		}
	}
	return nil
}

// kill sends SIGKILL to the task's group and its confinement.
func (t *task) kill() error {
	err := t.signal(syscall.SIGKILL)
	if t.confined != nil {
		err = errors.Join(err, t.confined.KillAll())
	}
	return err
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
