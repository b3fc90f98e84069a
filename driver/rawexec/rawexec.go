//go:build unix

// Package rawexec runs tasks as host processes without isolation, each in
// its own process group so a stop reaches every process the task started.
package rawexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/droverhq/drover/driver"
)

// Name is the driver's name in jobs.
const Name = "raw_exec"

// Driver is the raw_exec driver.
type Driver struct {
	logger *slog.Logger
	// PollInterval is how often a reattached process is checked for exit. Default 1s.
	PollInterval time.Duration

	// recoverMu serialises RecoverTask's check-then-add.
	recoverMu sync.Mutex
	tasks     driver.Tasks[*task]
}

type task struct {
	id        string
	pid, pgid int
	startTime uint64 // the process's start time in clock ticks, to recognise pid reuse
	exit      *driver.Exit
	stopPoll  chan struct{}
}

// handleState is what TaskHandle.State holds for raw_exec.
type handleState struct {
	PGID      int    `json:"pgid"`
	StartTime uint64 `json:"start_time"`
}

var _ driver.Driver = (*Driver)(nil)

// New returns a raw_exec driver; logger may be nil.
func New(logger *slog.Logger) *Driver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Driver{logger: logger, PollInterval: time.Second}
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return Name }

// Fingerprint implements driver.Driver: raw_exec works on any unix host.
func (d *Driver) Fingerprint(context.Context) driver.Fingerprint {
	return driver.Fingerprint{Detected: true, Healthy: true, HealthDescription: "healthy",
		Attributes: map[string]string{"driver.raw_exec": "1"}}
}

// StartTask implements driver.Driver. Config: command (required), args.
func (d *Driver) StartTask(_ context.Context, cfg *driver.TaskConfig) (*driver.TaskHandle, error) {
	command, err := driver.ConfigString(cfg.Config, "command")
	if err != nil {
		return nil, err
	}
	if command == "" {
		return nil, fmt.Errorf("%w: command is required", driver.ErrInvalidConfig)
	}
	args, err := driver.ConfigStrings(cfg.Config, "args")
	if err != nil {
		return nil, err
	}
	if d.tasks.Has(cfg.ID) {
		return nil, fmt.Errorf("raw_exec: task %s already started", cfg.ID)
	}
	stdout, err := openLog(cfg.StdoutPath)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := openLog(cfg.StderrPath)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()

	cmd := exec.Command(command, args...)
	cmd.Dir = cfg.TaskDir
	cmd.Env = environ(cfg.Env)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("raw_exec: start %q: %w", command, err)
	}
	t := &task{id: cfg.ID, pid: cmd.Process.Pid, pgid: cmd.Process.Pid, exit: driver.NewExit()}
	t.startTime, _ = processStartTime(t.pid)
	go func() {
		err := cmd.Wait()
		t.exit.Set(exitResult(cmd.ProcessState, err))
	}()
	if !d.tasks.Add(cfg.ID, t) {
		// Started twice at once: the second process goes.
		_ = syscall.Kill(-t.pgid, syscall.SIGKILL)
		return nil, fmt.Errorf("raw_exec: task %s already started", cfg.ID)
	}
	state, _ := json.Marshal(handleState{PGID: t.pgid, StartTime: t.startTime})
	return &driver.TaskHandle{ID: cfg.ID, Driver: Name, PID: t.pid, StartedAt: time.Now(), State: state}, nil
}

func openLog(path string) (*os.File, error) {
	if path == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("raw_exec: open log: %w", err)
	}
	return f, nil
}

// environ turns the task's environment into a list, adding the host's PATH
// when the task sets none so commands are found.
func environ(env map[string]string) []string {
	out := make([]string, 0, len(env)+1)
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	if _, ok := env["PATH"]; !ok {
		out = append(out, "PATH="+os.Getenv("PATH"))
	}
	sort.Strings(out)
	return out
}

// exitResult reads the exit code and signal of a finished process; a
// process killed by a signal reports 128+signal, as shells do.
func exitResult(ps *os.ProcessState, waitErr error) *driver.ExitResult {
	if ps == nil {
		return &driver.ExitResult{ExitCode: -1, Err: waitErr}
	}
	res := &driver.ExitResult{ExitCode: ps.ExitCode()}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.Signal = int(ws.Signal())
		res.ExitCode = 128 + res.Signal
	}
	return res
}

// WaitTask implements driver.Driver.
func (d *Driver) WaitTask(ctx context.Context, taskID string) (<-chan *driver.ExitResult, error) {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return nil, err
	}
	return t.exit.Wait(ctx), nil
}

// StopTask implements driver.Driver: signal the process group, then kill
// it after timeout.
func (d *Driver) StopTask(ctx context.Context, taskID string, timeout time.Duration, signal string) error {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return err
	}
	sig, err := driver.ParseSignal(signal)
	if err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = driver.DefaultKillTimeout
	}
	if err := syscall.Kill(-t.pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
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
	d.logger.Debug("kill timeout reached, killing task", "task", taskID)
	if err := syscall.Kill(-t.pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
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
// process group (children that outlived the main process) is killed.
func (d *Driver) DestroyTask(taskID string, force bool) error {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return err
	}
	if t.exit.Result() == nil && !force {
		return fmt.Errorf("raw_exec: %s: %w", taskID, driver.ErrTaskRunning)
	}
	_ = syscall.Kill(-t.pgid, syscall.SIGKILL)
	if t.exit.Result() == nil {
		// The main process was just killed; its waiter records the exit.
		select {
		case <-t.exit.Done():
		case <-time.After(5 * time.Second):
		}
	}
	if t.stopPoll != nil {
		close(t.stopPoll)
	}
	d.tasks.Delete(taskID)
	return nil
}

// RecoverTask implements driver.Driver: after a client restart the process
// is no longer our child, so its exit is detected by polling, and its exit
// code is unknown.
func (d *Driver) RecoverTask(h *driver.TaskHandle) error {
	if h == nil || h.PID <= 0 {
		return fmt.Errorf("raw_exec: empty handle: %w", driver.ErrTaskNotFound)
	}
	var st handleState
	if err := json.Unmarshal(h.State, &st); err != nil {
		return fmt.Errorf("raw_exec: handle state: %v: %w", err, driver.ErrTaskNotFound)
	}
	d.recoverMu.Lock()
	defer d.recoverMu.Unlock()
	if d.tasks.Has(h.ID) {
		return nil
	}
	if !sameProcess(h.PID, st.StartTime) {
		return fmt.Errorf("raw_exec: process %d of %s is gone: %w", h.PID, h.ID, driver.ErrTaskNotFound)
	}
	t := &task{id: h.ID, pid: h.PID, pgid: st.PGID, startTime: st.StartTime, exit: driver.NewExit(), stopPoll: make(chan struct{})}
	d.tasks.Add(h.ID, t)
	go d.poll(t)
	return nil
}

func (d *Driver) poll(t *task) {
	tk := time.NewTicker(d.PollInterval)
	defer tk.Stop()
	for {
		select {
		case <-t.stopPoll:
			t.exit.Set(&driver.ExitResult{ExitCode: -1, Err: errors.New("exit status unknown after reattach")})
			return
		case <-tk.C:
			if !sameProcess(t.pid, t.startTime) {
				t.exit.Set(&driver.ExitResult{ExitCode: -1, Err: errors.New("exit status unknown after reattach")})
				return
			}
		}
	}
}

// sameProcess reports whether pid is alive and (when known) started at startTime.
func sameProcess(pid int, startTime uint64) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if startTime == 0 {
		return true
	}
	st, err := processStartTime(pid)
	return err == nil && st == startTime
}

// processStartTime reads field 22 of /proc/<pid>/stat: when the process
// started, in clock ticks after boot. Zombies count as gone.
func processStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	// The command name (field 2) may hold spaces; fields resume after its ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return 0, errors.New("malformed stat")
	}
	if fields[0] == "Z" || fields[0] == "X" {
		return 0, errors.New("process has exited")
	}
	var v uint64
	_, err = fmt.Sscan(fields[19], &v)
	return v, err
}
