//go:build linux

package rawexec

import (
	"context"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/driver"
)

func TestStopKillsTheWholeProcessGroup(t *testing.T) {
	d := New(nil)
	pidFile := filepath.Join(t.TempDir(), "child")
	cfg := taskConfig(t, "t2", "/bin/sh", "-c", "sleep 30 & echo $! > "+pidFile+"; sleep 30")
	h := start(t, d, cfg)
	child, err := strconv.Atoi(waitForFile(t, pidFile))
	require.NoError(t, err)
	members := liveGroupMembers(t, h.PID)
	require.Contains(t, members, h.PID, "the task leads its own process group")
	require.Contains(t, members, child, "the background child shares the task's group")

	require.NoError(t, d.StopTask(context.Background(), "t2", deadline, "SIGTERM"))
	res := wait(t, d, "t2")
	require.Equal(t, int(syscall.SIGTERM), res.Signal)
	require.Equal(t, 128+int(syscall.SIGTERM), res.ExitCode)
	requireGroupGone(t, h.PID)
	require.NoError(t, d.DestroyTask("t2", false))
}

func TestDefaultStopSignalIsSIGINT(t *testing.T) {
	d := New(nil)
	ready := filepath.Join(t.TempDir(), "ready")
	cfg := taskConfig(t, "int", "/bin/sh", "-c",
		`trap "exit 7" INT; trap "exit 8" TERM; echo > `+ready+`; while true; do sleep 0.05; done`)
	start(t, d, cfg)
	waitForFile(t, ready)
	require.NoError(t, d.StopTask(context.Background(), "int", deadline, ""))
	require.Equal(t, 7, wait(t, d, "int").ExitCode, "the task's INT trap ran")
	require.NoError(t, d.DestroyTask("int", false))
}

func TestKillTimeoutEscalatesToSIGKILL(t *testing.T) {
	d := New(nil)
	ready := filepath.Join(t.TempDir(), "ready")
	cfg := taskConfig(t, "t3", "/bin/sh", "-c", `trap "" TERM; echo > `+ready+`; while true; do sleep 0.05; done`)
	h := start(t, d, cfg)
	waitForFile(t, ready)
	const timeout = 200 * time.Millisecond
	began := time.Now()
	require.NoError(t, d.StopTask(context.Background(), "t3", timeout, "SIGTERM"))
	require.GreaterOrEqual(t, time.Since(began), timeout, "SIGKILL only after the kill timeout")
	res := wait(t, d, "t3")
	require.Equal(t, int(syscall.SIGKILL), res.Signal, "a task ignoring the kill signal is killed after the timeout")
	requireGroupGone(t, h.PID)
	require.NoError(t, d.DestroyTask("t3", false))
}

func TestStopErrors(t *testing.T) {
	d := New(nil)
	require.ErrorIs(t, d.StopTask(context.Background(), "nope", time.Second, ""), driver.ErrTaskNotFound)

	ready := filepath.Join(t.TempDir(), "ready")
	cfg := taskConfig(t, "s", "/bin/sh", "-c", `trap "" TERM; echo > `+ready+`; while true; do sleep 0.05; done`)
	start(t, d, cfg)
	waitForFile(t, ready)
	ch, err := d.WaitTask(context.Background(), "s")
	require.NoError(t, err)
	require.ErrorIs(t, d.StopTask(context.Background(), "s", time.Second, "SIGBOGUS"), driver.ErrInvalidConfig)

	// A stop whose context ends first returns the context's error.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, d.StopTask(ctx, "s", deadline, "SIGTERM"), context.DeadlineExceeded)
	require.NoError(t, d.DestroyTask("s", true))
	select {
	case res := <-ch:
		require.Equal(t, int(syscall.SIGKILL), res.Signal, "a forced destroy kills the task")
	case <-time.After(deadline):
		t.Fatal("a forced destroy did not end the task")
	}
}

func TestDestroyRunningNeedsForce(t *testing.T) {
	d := New(nil)
	h := start(t, d, taskConfig(t, "t4", "/bin/sh", "-c", "sleep 30 & sleep 30"))
	ch, err := d.WaitTask(context.Background(), "t4")
	require.NoError(t, err)
	require.ErrorIs(t, d.DestroyTask("t4", false), driver.ErrTaskRunning)
	require.NoError(t, d.DestroyTask("t4", true))
	select {
	case res := <-ch:
		require.Equal(t, int(syscall.SIGKILL), res.Signal)
	case <-time.After(deadline):
		t.Fatal("a forced destroy did not end the task")
	}
	requireGroupGone(t, h.PID)
	require.ErrorIs(t, d.DestroyTask("t4", true), driver.ErrTaskNotFound)
}
