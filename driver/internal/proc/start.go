//go:build unix

package proc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/droverhq/drover/driver"
)

// config is a raw_exec task's driver config.
type config struct {
	command string
	args    []string
}

func parseConfig(cfg *driver.TaskConfig) (*config, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := driver.CheckKeys(cfg.Config, "command", "args"); err != nil {
		return nil, err
	}
	if _, err := driver.ParseSignal(cfg.KillSignal); err != nil {
		return nil, fmt.Errorf("kill signal: %w", err)
	}
	c := &config{}
	var err error
	if c.command, err = driver.ConfigString(cfg.Config, "command"); err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.command) == "" {
		return nil, fmt.Errorf("%w: command is required", driver.ErrInvalidConfig)
	}
	if strings.ContainsRune(c.command, 0) {
		return nil, fmt.Errorf("%w: command holds a NUL byte", driver.ErrInvalidConfig)
	}
	if c.args, err = driver.ConfigStrings(cfg.Config, "args"); err != nil {
		return nil, err
	}
	for i, a := range c.args {
		if strings.ContainsRune(a, 0) {
			return nil, fmt.Errorf("%w: args[%d] holds a NUL byte", driver.ErrInvalidConfig, i)
		}
	}
	return c, nil
}

// handleState is what TaskHandle.State holds.
type handleState struct {
	// PGID is the task's process group.
	PGID int `json:"pgid"`
	// StartTime is the process's start time in clock ticks after boot, as
	// in /proc/<pid>/stat; 0 if unknown.
	StartTime uint64 `json:"start_time"`
	// Confinement is the isolation's record of the task, if any.
	Confinement json.RawMessage `json:"confinement,omitempty"`
}

// StartTask implements driver.Driver. A bad config fails with
// driver.ErrInvalidConfig; a command that cannot be found fails with an
// error wrapping exec.ErrNotFound.
func (d *Driver) StartTask(ctx context.Context, cfg *driver.TaskConfig) (*driver.TaskHandle, error) {
	c, err := parseConfig(cfg)
	if err != nil {
		return nil, d.errorf("%w", err)
	}
	if cfg.User != "" && d.isolation == nil {
		// Rather than run it as the client's user behind its back.
		return nil, d.errorf("%w: user %q: %s runs tasks as the client's own user", driver.ErrInvalidConfig, cfg.User, d.name)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d.isolation == nil && len(cfg.Mounts) > 0 {
		if err := linkMounts(d.name, cfg); err != nil {
			return nil, d.errorf("%w", err)
		}
	}
	env := environ(cfg.Env)

	// Reserve the ID so a concurrent start of the same task fails.
	if !d.tasks.Reserve(cfg.ID) {
		return nil, d.errorf("task %s already started", cfg.ID)
	}
	var confined Confinement
	if d.isolation != nil {
		if confined, err = d.isolation.Prepare(cfg); err != nil {
			d.tasks.Release(cfg.ID)
			return nil, d.errorf("%w", err)
		}
	}
	path := c.command
	if confined == nil || !confined.OwnRoot() {
		path, err = resolveCommand(c.command, cfg.TaskDir, cfg.Env["PATH"])
	}
	var t *task
	if err == nil {
		t, err = d.start(cfg, c, path, env, confined)
	}
	if err != nil {
		if confined != nil {
			_ = confined.Release()
		}
		d.tasks.Release(cfg.ID)
		return nil, d.errorf("%w", err)
	}
	d.tasks.Fill(cfg.ID, t)
	d.logger.Debug("task started", "task", cfg.ID, "pid", t.pid, "command", path)
	st := handleState{PGID: t.pgid, StartTime: t.startTime}
	h := &driver.TaskHandle{ID: cfg.ID, Driver: d.name, PID: t.pid, StartedAt: time.Now()}
	if confined != nil {
		st.Confinement = confined.State()
		h.Warnings = confined.Warnings()
	}
	if h.State, err = json.Marshal(st); err != nil {
		return nil, d.errorf("encode handle: %w", err)
	}
	return h, nil
}

// start launches the process and a goroutine that reaps it.
func (d *Driver) start(cfg *driver.TaskConfig, c *config, path string, env []string, confined Confinement) (*task, error) {
	stdout, err := driver.OpenLog(cfg.StdoutPath)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := driver.OpenLog(cfg.StderrPath)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()

	cmd := &exec.Cmd{
		Path:        path,
		Args:        append([]string{c.command}, c.args...),
		Env:         env,
		Dir:         cfg.TaskDir,
		Stdout:      stdout,
		Stderr:      stderr,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if confined != nil {
		if err := confined.Apply(cmd); err != nil {
			return nil, err
		}
	}
	err = cmd.Start()
	if confined != nil {
		if serr := confined.Started(err); serr != nil && err == nil {
			// The process runs but the task could not be set up in it.
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
			return nil, fmt.Errorf("start %q: %w", c.command, serr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("start %q: %w", c.command, err)
	}
	pid := cmd.Process.Pid
	t := &task{id: cfg.ID, pid: pid, pgid: pid, confined: confined, exit: driver.NewExit()}
	// The child cannot be reaped before cmd.Wait, so its /proc entry is
	// there to read even if it has already exited.
	if info, err := lookupProcess(pid); err == nil {
		t.startTime = info.startTime
	} else {
		d.logger.Debug("cannot read process start time", "task", cfg.ID, "pid", pid, "error", err)
	}
	go func() {
		err := cmd.Wait()
		res := exitResult(cmd.ProcessState, err)
		if confined != nil {
			res = confined.Exited(res)
		}
		t.exit.Set(res)
	}()
	return t, nil
}

// resolveCommand finds the executable a command names: a path with a slash
// is taken relative to dir; a bare name is searched in pathEnv (the task's
// PATH; the host's when empty), whose relative entries are relative to dir.
func resolveCommand(command, dir, pathEnv string) (string, error) {
	if strings.Contains(command, "/") {
		p := command
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("command %q: %w", command, err)
		}
		return p, nil
	}
	if pathEnv == "" {
		pathEnv = os.Getenv("PATH")
	}
	for _, p := range filepath.SplitList(pathEnv) {
		if p == "" {
			p = "."
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		candidate := filepath.Join(p, command)
		if checkExecutable(candidate) == nil {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH %q: %w", command, pathEnv, exec.ErrNotFound)
}

// checkExecutable reports why path is not an executable file, if it is not.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory: %w", path, fs.ErrInvalid)
	}
	if fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not executable: %w", path, fs.ErrPermission)
	}
	return nil
}

// environ turns the task's environment into a list, adding the host's PATH
// when the task sets none so commands are found.
func environ(env map[string]string) []string {
	out := make([]string, 0, len(env)+1)
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	if _, ok := env["PATH"]; !ok {
		if p, ok := os.LookupEnv("PATH"); ok {
			out = append(out, "PATH="+p)
		}
	}
	sort.Strings(out)
	return out
}

// exitResult reads the exit code and signal of a finished process; a
// process killed by a signal reports 128+signal, as shells do.
func exitResult(ps *os.ProcessState, waitErr error) *driver.ExitResult {
	if ps == nil {
		if waitErr == nil {
			waitErr = errors.New("process state unavailable")
		}
		return &driver.ExitResult{ExitCode: -1, Err: waitErr}
	}
	res := &driver.ExitResult{ExitCode: ps.ExitCode()}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.Signal = int(ws.Signal())
		res.ExitCode = 128 + res.Signal
	}
	return res
}
