//go:build linux

package rawexec

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/driver"
)

func TestFingerprint(t *testing.T) {
	fp := New(nil).Fingerprint(context.Background())
	require.True(t, fp.Detected)
	require.True(t, fp.Healthy)
	require.Equal(t, "1", fp.Attributes["driver.raw_exec"])
}

func TestExitCodeIsReported(t *testing.T) {
	d := New(nil)
	start(t, d, taskConfig(t, "t1", "/bin/sh", "-c", "exit 3"))
	res := wait(t, d, "t1")
	require.Equal(t, 3, res.ExitCode)
	require.Zero(t, res.Signal)
	require.NoError(t, res.Err)
	require.False(t, res.Successful())
	require.NoError(t, d.DestroyTask("t1", false))
	_, err := d.WaitTask(context.Background(), "t1")
	require.ErrorIs(t, err, driver.ErrTaskNotFound)
	require.ErrorIs(t, d.DestroyTask("t1", false), driver.ErrTaskNotFound)
}

func TestOutputDirAndEnvironment(t *testing.T) {
	t.Setenv("DROVER_HOST_ONLY", "leaked")
	d := New(nil)
	cfg := taskConfig(t, "t1", "/bin/sh", "-c",
		`echo "$GREETING from $(pwd)"; echo "host:${DROVER_HOST_ONLY:-unset}"; echo "path:${PATH:+set}"; echo oops >&2`)
	// Output is appended, never truncated.
	require.NoError(t, os.WriteFile(cfg.StdoutPath, []byte("earlier\n"), 0o644))
	start(t, d, cfg)
	require.True(t, wait(t, d, "t1").Successful())
	require.NoError(t, d.DestroyTask("t1", false))

	out, err := os.ReadFile(cfg.StdoutPath)
	require.NoError(t, err)
	require.Equal(t, "earlier\nhello from "+cfg.TaskDir+"\nhost:unset\npath:set\n", string(out),
		"the task runs in its dir, sees its env and the host's PATH, and nothing else of the host's env")
	errOut, err := os.ReadFile(cfg.StderrPath)
	require.NoError(t, err)
	require.Equal(t, "oops\n", string(errOut))
}

func TestCommandIsFoundInTheTasksPath(t *testing.T) {
	d := New(nil)
	bin := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bin, "greet"), []byte("#!/bin/sh\necho \"hi $1\"\n"), 0o755))

	cfg := taskConfig(t, "path", "greet", "there")
	cfg.Env["PATH"] = bin + ":/bin:/usr/bin"
	start(t, d, cfg)
	require.True(t, wait(t, d, "path").Successful())
	require.NoError(t, d.DestroyTask("path", false))
	out, err := os.ReadFile(cfg.StdoutPath)
	require.NoError(t, err)
	require.Equal(t, "hi there\n", string(out))

	// A relative command is relative to the task directory.
	cfg = taskConfig(t, "rel", "./local.sh")
	require.NoError(t, os.WriteFile(filepath.Join(cfg.TaskDir, "local.sh"), []byte("#!/bin/sh\nexit 5\n"), 0o755))
	start(t, d, cfg)
	require.Equal(t, 5, wait(t, d, "rel").ExitCode)
	require.NoError(t, d.DestroyTask("rel", false))
}

func TestMissingCommandFailsClearly(t *testing.T) {
	d := New(nil)
	_, err := d.StartTask(context.Background(), taskConfig(t, "abs", "/no/such/binary"))
	require.ErrorContains(t, err, "/no/such/binary")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NotErrorIs(t, err, driver.ErrInvalidConfig, "the binary may appear later; the config itself is fine")

	cfg := taskConfig(t, "bare", "drover-no-such-command")
	cfg.Env["PATH"] = t.TempDir()
	_, err = d.StartTask(context.Background(), cfg)
	require.ErrorIs(t, err, exec.ErrNotFound)
	require.ErrorContains(t, err, `"drover-no-such-command" not found`)

	notExec := taskConfig(t, "noexec", "./data")
	require.NoError(t, os.WriteFile(filepath.Join(notExec.TaskDir, "data"), []byte("x"), 0o644))
	_, err = d.StartTask(context.Background(), notExec)
	require.ErrorIs(t, err, fs.ErrPermission)

	for _, id := range []string{"abs", "bare", "noexec"} {
		_, err = d.WaitTask(context.Background(), id)
		require.ErrorIs(t, err, driver.ErrTaskNotFound, "a failed start leaves nothing behind")
	}
}

func TestBadConfigStartsNothing(t *testing.T) {
	d := New(nil)
	marker := filepath.Join(t.TempDir(), "ran")
	valid := func() *driver.TaskConfig { return taskConfig(t, "bad", "/bin/touch", marker) }
	for name, mutate := range map[string]func(c *driver.TaskConfig){
		"no command":      func(c *driver.TaskConfig) { delete(c.Config, "command") },
		"blank command":   func(c *driver.TaskConfig) { c.Config["command"] = "  " },
		"command type":    func(c *driver.TaskConfig) { c.Config["command"] = 7.0 },
		"args not a list": func(c *driver.TaskConfig) { c.Config["args"] = "x" },
		"args not text":   func(c *driver.TaskConfig) { c.Config["args"] = []any{1.0} },
		"arg with NUL":    func(c *driver.TaskConfig) { c.Config["args"] = []any{"a\x00b"} },
		"unknown key":     func(c *driver.TaskConfig) { c.Config["comand"] = "/bin/true" },
		"kill signal":     func(c *driver.TaskConfig) { c.KillSignal = "SIGNOPE" },
		"empty id":        func(c *driver.TaskConfig) { c.ID = "" },
		"env name":        func(c *driver.TaskConfig) { c.Env["A=B"] = "x" },
		"env value":       func(c *driver.TaskConfig) { c.Env["A"] = "x\x00y" },
		"user":            func(c *driver.TaskConfig) { c.User = "nobody" },
	} {
		cfg := valid()
		mutate(cfg)
		_, err := d.StartTask(context.Background(), cfg)
		require.ErrorIs(t, err, driver.ErrInvalidConfig, name)
	}
	_, err := d.StartTask(context.Background(), nil)
	require.ErrorIs(t, err, driver.ErrInvalidConfig)
	_, err = d.WaitTask(context.Background(), "bad")
	require.ErrorIs(t, err, driver.ErrTaskNotFound)
	require.NoFileExists(t, marker)
}

func TestDuplicateTaskIDIsRefused(t *testing.T) {
	d := New(nil)
	cfg := taskConfig(t, "dup", "/bin/sh", "-c", "exit 0")
	start(t, d, cfg)
	_, err := d.StartTask(context.Background(), cfg)
	require.ErrorContains(t, err, "already started")
	wait(t, d, "dup")
	require.NoError(t, d.DestroyTask("dup", false))
}

func TestStartHonoursACancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New(nil).StartTask(ctx, taskConfig(t, "c", "/bin/true"))
	require.ErrorIs(t, err, context.Canceled)
}
