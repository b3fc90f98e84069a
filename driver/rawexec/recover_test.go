//go:build linux

package rawexec

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/driver"
)

// restarted stands for the driver of a client that restarted: another
// instance, which did not start the task's process.
func restarted() *Driver {
	d := New(nil)
	d.PollInterval = 10 * time.Millisecond
	return d
}

func TestRecoverTaskReportsTheExitOfALiveProcess(t *testing.T) {
	first := New(nil)
	release := filepath.Join(t.TempDir(), "release")
	cfg := taskConfig(t, "t5", "/bin/sh", "-c", "while [ ! -e "+release+" ]; do sleep 0.02; done; exit 4")
	h := start(t, first, cfg)

	second := restarted()
	require.NoError(t, second.RecoverTask(h))
	require.NoError(t, second.RecoverTask(h), "recovering a task already held is a no-op")
	require.ErrorIs(t, second.DestroyTask("t5", false), driver.ErrTaskRunning)
	require.NoError(t, os.WriteFile(release, nil, 0o600))

	res := wait(t, second, "t5")
	require.Equal(t, -1, res.ExitCode, "the exit code of a reattached process is unknown")
	require.ErrorIs(t, res.Err, ErrExitStatusUnknown)
	require.Equal(t, "exit status unknown after reattach", res.Err.Error())
	require.NoError(t, second.DestroyTask("t5", false))
	require.Equal(t, 4, wait(t, first, "t5").ExitCode)
	require.NoError(t, first.DestroyTask("t5", false))

	// Once it is gone, the handle leads nowhere.
	require.ErrorIs(t, restarted().RecoverTask(h), driver.ErrTaskNotFound)
}

func TestRecoveredTaskCanBeStopped(t *testing.T) {
	first := New(nil)
	pidFile := filepath.Join(t.TempDir(), "child")
	h := start(t, first, taskConfig(t, "t6", "/bin/sh", "-c", "sleep 30 & echo $! > "+pidFile+"; sleep 30"))
	waitForFile(t, pidFile)

	second := restarted()
	require.NoError(t, second.RecoverTask(h))
	require.NoError(t, second.StopTask(context.Background(), "t6", deadline, "SIGTERM"))
	require.Equal(t, -1, wait(t, second, "t6").ExitCode)
	require.Equal(t, int(syscall.SIGTERM), wait(t, first, "t6").Signal, "the stop reached the original process")
	requireGroupGone(t, h.PID)
	require.NoError(t, second.DestroyTask("t6", false))
	require.NoError(t, first.DestroyTask("t6", false))
}

func TestForcedDestroyOfARecoveredTask(t *testing.T) {
	first := New(nil)
	h := start(t, first, taskConfig(t, "t7", "/bin/sleep", "30"))
	second := restarted()
	require.NoError(t, second.RecoverTask(h))
	require.NoError(t, second.DestroyTask("t7", true))
	require.Equal(t, int(syscall.SIGKILL), wait(t, first, "t7").Signal)
	require.NoError(t, first.DestroyTask("t7", false))
}

func TestRecoverRefusesHandlesThatDoNotNameTheProcess(t *testing.T) {
	first := New(nil)
	h := start(t, first, taskConfig(t, "t8", "/bin/sleep", "30"))
	defer func() { require.NoError(t, first.DestroyTask("t8", true)) }()
	var st struct {
		PGID      int    `json:"pgid"`
		StartTime uint64 `json:"start_time"`
	}
	require.NoError(t, json.Unmarshal(h.State, &st))
	require.Equal(t, h.PID, st.PGID)
	require.Positive(t, st.StartTime)

	forge := func(mutate func(h *driver.TaskHandle)) *driver.TaskHandle {
		c := *h
		mutate(&c)
		return &c
	}
	self := strconv.Itoa(os.Getpid())
	for name, bad := range map[string]*driver.TaskHandle{
		"nil":           nil,
		"no id":         forge(func(h *driver.TaskHandle) { h.ID = "" }),
		"other driver":  forge(func(h *driver.TaskHandle) { h.Driver = "exec" }),
		"no pid":        forge(func(h *driver.TaskHandle) { h.PID = 0 }),
		"init":          forge(func(h *driver.TaskHandle) { h.PID = 1 }),
		"corrupt state": forge(func(h *driver.TaskHandle) { h.State = []byte("{") }),
		"no start time": forge(func(h *driver.TaskHandle) { h.State = nil }),
		"pid reused":    forge(func(h *driver.TaskHandle) { h.StartedAt = time.Time{}; h.State = []byte(`{"pgid":1,"start_time":1}`) }),
		"another process": forge(func(h *driver.TaskHandle) {
			h.PID = os.Getpid()
			h.State = []byte(`{"pgid":` + self + `,"start_time":1}`)
		}),
	} {
		d := restarted()
		require.ErrorIs(t, d.RecoverTask(bad), driver.ErrTaskNotFound, name)
		if bad != nil && bad.ID != "" {
			_, err := d.WaitTask(context.Background(), bad.ID)
			require.ErrorIs(t, err, driver.ErrTaskNotFound, name)
		}
	}
}
