//go:build linux

package rawexec

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/internal/proctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// deadline bounds every wait in these tests.
const deadline = proctest.Deadline

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

func waitForFile(t *testing.T, path string) string { return proctest.WaitForFile(t, path) }

func liveGroupMembers(t *testing.T, pgid int) []int { return proctest.LiveGroupMembers(t, pgid) }

func requireGroupGone(t *testing.T, pgid int) { proctest.RequireGroupGone(t, pgid) }
