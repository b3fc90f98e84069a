//go:build unix

package rawexec

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/droverhq/drover/driver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func taskConfig(t *testing.T, id string, cmd string, args ...string) *driver.TaskConfig {
	dir := t.TempDir()
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	return &driver.TaskConfig{
		ID: id, TaskName: id, TaskDir: dir,
		Config:     map[string]any{"command": cmd, "args": a},
		Env:        map[string]string{"GREETING": "hello"},
		StdoutPath: filepath.Join(dir, "stdout"), StderrPath: filepath.Join(dir, "stderr"),
	}
}

func wait(t *testing.T, d *Driver, id string) *driver.ExitResult {
	t.Helper()
	ch, err := d.WaitTask(context.Background(), id)
	require.NoError(t, err)
	select {
	case res := <-ch:
		return res
	case <-time.After(20 * time.Second):
		t.Fatal("task did not exit")
		return nil
	}
}

func TestExitCodeOutputAndEnv(t *testing.T) {
	d := New(nil)
	cfg := taskConfig(t, "t1", "/bin/sh", "-c", `echo "$GREETING from $(pwd)"; echo oops >&2; exit 3`)
	_, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	res := wait(t, d, "t1")
	require.Equal(t, 3, res.ExitCode)
	require.False(t, res.Successful())
	out, err := os.ReadFile(cfg.StdoutPath)
	require.NoError(t, err)
	require.Equal(t, "hello from "+cfg.TaskDir+"\n", string(out))
	errOut, err := os.ReadFile(cfg.StderrPath)
	require.NoError(t, err)
	require.Equal(t, "oops\n", string(errOut))
	require.NoError(t, d.DestroyTask("t1", false))
	_, err = d.WaitTask(context.Background(), "t1")
	require.ErrorIs(t, err, driver.ErrTaskNotFound)
}

// groupAlive reports whether any process is left in the process group.
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}

func TestStopKillsTheWholeProcessGroup(t *testing.T) {
	d := New(nil)
	cfg := taskConfig(t, "t2", "/bin/sh", "-c", "sleep 30 & sleep 30")
	h, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	require.NoError(t, d.StopTask(context.Background(), "t2", 5*time.Second, "SIGTERM"))
	res := wait(t, d, "t2")
	require.Equal(t, int(syscall.SIGTERM), res.Signal)
	require.NoError(t, d.DestroyTask("t2", false))
	require.Eventually(t, func() bool { return !groupAlive(h.PID) }, 10*time.Second, 10*time.Millisecond,
		"no process of the task's group survives")
}

func TestKillTimeoutEscalatesToSIGKILL(t *testing.T) {
	d := New(nil)
	ready := filepath.Join(t.TempDir(), "ready")
	cfg := taskConfig(t, "t3", "/bin/sh", "-c", `trap "" TERM; touch `+ready+`; while true; do sleep 0.05; done`)
	_, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, err := os.Stat(ready); return err == nil }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, d.StopTask(context.Background(), "t3", 200*time.Millisecond, "SIGTERM"))
	res := wait(t, d, "t3")
	require.Equal(t, int(syscall.SIGKILL), res.Signal, "a task ignoring the kill signal is killed after the timeout")
	require.NoError(t, d.DestroyTask("t3", false))
}

func TestBadConfigStartsNothing(t *testing.T) {
	d := New(nil)
	for name, cfg := range map[string]map[string]any{
		"no command":     {},
		"command type":   {"command": 7.0},
		"args not list":  {"command": "/bin/true", "args": "x"},
		"args not names": {"command": "/bin/true", "args": []any{1.0}},
	} {
		tc := taskConfig(t, "bad", "")
		tc.Config = cfg
		_, err := d.StartTask(context.Background(), tc)
		require.ErrorIs(t, err, driver.ErrInvalidConfig, name)
	}
	_, err := d.StartTask(context.Background(), taskConfig(t, "missing", "/no/such/binary"))
	require.ErrorContains(t, err, "/no/such/binary")
	require.NotErrorIs(t, err, driver.ErrInvalidConfig)
	_, err = d.WaitTask(context.Background(), "missing")
	require.ErrorIs(t, err, driver.ErrTaskNotFound)
}

func TestDestroyRunningNeedsForce(t *testing.T) {
	d := New(nil)
	_, err := d.StartTask(context.Background(), taskConfig(t, "t4", "/bin/sleep", "30"))
	require.NoError(t, err)
	require.ErrorIs(t, d.DestroyTask("t4", false), driver.ErrTaskRunning)
	require.NoError(t, d.DestroyTask("t4", true))
}

func TestRecoverTaskAfterRestart(t *testing.T) {
	first := New(nil)
	ready := filepath.Join(t.TempDir(), "go")
	cfg := taskConfig(t, "t5", "/bin/sh", "-c", "while [ ! -e "+ready+" ]; do sleep 0.05; done")
	h, err := first.StartTask(context.Background(), cfg)
	require.NoError(t, err)

	// A second driver instance stands for the restarted client.
	second := New(nil)
	second.PollInterval = 20 * time.Millisecond
	require.NoError(t, second.RecoverTask(h))
	require.NoError(t, os.WriteFile(ready, nil, 0o600))
	res := wait(t, second, "t5")
	require.Equal(t, -1, res.ExitCode, "the exit code of a reattached process is unknown")
	require.Error(t, res.Err)
	require.NoError(t, second.DestroyTask("t5", false))
	wait(t, first, "t5")
	require.NoError(t, first.DestroyTask("t5", false))

	// Once it is gone, the handle leads nowhere.
	require.ErrorIs(t, New(nil).RecoverTask(h), driver.ErrTaskNotFound)
	// Nor is a reused pid adopted: same pid, other start time.
	forged := *h
	forged.PID = os.Getpid()
	forged.State = []byte(`{"pgid":` + strconv.Itoa(os.Getpid()) + `,"start_time":1}`)
	require.ErrorIs(t, New(nil).RecoverTask(&forged), driver.ErrTaskNotFound)
}

func TestParseStat(t *testing.T) {
	st, err := processStartTime(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, st)
	_, err = processStartTime(1 << 30)
	require.Error(t, err)
}
