//go:build linux

package rawexec

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/droverhq/drover/driver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// deadline bounds every wait in these tests.
const deadline = 20 * time.Second

func taskConfig(t *testing.T, id string, cmd string, args ...string) *driver.TaskConfig {
	t.Helper()
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

func start(t *testing.T, d *Driver, cfg *driver.TaskConfig) *driver.TaskHandle {
	t.Helper()
	h, err := d.StartTask(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, cfg.ID, h.ID)
	require.Equal(t, Name, h.Driver)
	require.Positive(t, h.PID)
	return h
}

func wait(t *testing.T, d *Driver, id string) *driver.ExitResult {
	t.Helper()
	ch, err := d.WaitTask(context.Background(), id)
	require.NoError(t, err)
	select {
	case res, ok := <-ch:
		require.True(t, ok, "the wait channel delivers a result before closing")
		require.NotNil(t, res)
		return res
	case <-time.After(deadline):
		t.Fatal("task did not exit")
		return nil
	}
}

// waitForFile waits until path exists and returns its trimmed contents.
func waitForFile(t *testing.T, path string) string {
	t.Helper()
	var data []byte
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 || b[len(b)-1] != '\n' {
			return false
		}
		data = b
		return true
	}, deadline, 5*time.Millisecond, "waiting for %s", path)
	return strings.TrimSpace(string(data))
}

// liveGroupMembers lists the pids of the processes, zombies aside, in
// process group pgid.
func liveGroupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		info, err := lookupProcess(pid)
		if err == nil && !info.zombie && info.pgid == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}

func requireGroupGone(t *testing.T, pgid int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(liveGroupMembers(t, pgid)) == 0 },
		deadline, 5*time.Millisecond, "a process of group %d survived", pgid)
}
