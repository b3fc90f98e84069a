package mock

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/droverhq/drover/driver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, d *Driver, id string, config map[string]any) error {
	_, err := d.StartTask(context.Background(), &driver.TaskConfig{ID: id, Config: config})
	return err
}

func exit(t *testing.T, d *Driver, id string) *driver.ExitResult {
	t.Helper()
	ch, err := d.WaitTask(context.Background(), id)
	require.NoError(t, err)
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("mock task did not exit")
		return nil
	}
}

func TestScriptedExits(t *testing.T) {
	d := New(nil)
	require.NoError(t, start(t, d, "ok", map[string]any{"run_for": "10ms"}))
	require.True(t, exit(t, d, "ok").Successful())
	require.NoError(t, start(t, d, "bad", map[string]any{"exit_code": 4.0, "exit_err_msg": "nope"}))
	r := exit(t, d, "bad")
	require.Equal(t, 4, r.ExitCode)
	require.EqualError(t, r.Err, "nope")
	require.Error(t, start(t, d, "fails", map[string]any{"start_error": "no luck"}))
	require.NoError(t, d.DestroyTask("ok", false))
	require.NoError(t, d.DestroyTask("bad", false))
}

func TestRunsUntilStopped(t *testing.T) {
	d := New(nil)
	require.NoError(t, start(t, d, "forever", map[string]any{"run_for": "-1"}))
	require.NoError(t, d.RecoverTask(&driver.TaskHandle{ID: "forever"}))
	require.ErrorIs(t, New(nil).RecoverTask(&driver.TaskHandle{ID: "forever"}), driver.ErrTaskNotFound)
	require.NoError(t, d.StopTask(context.Background(), "forever", time.Second, ""))
	require.NotZero(t, exit(t, d, "forever").Signal)
	require.NoError(t, d.DestroyTask("forever", false))
}

func TestBadConfig(t *testing.T) {
	d := New(nil)
	require.ErrorIs(t, start(t, d, "a", map[string]any{"run_for": "soon"}), driver.ErrInvalidConfig)
	require.ErrorIs(t, start(t, d, "b", map[string]any{"exit_code": 1.5}), driver.ErrInvalidConfig)
	require.ErrorIs(t, start(t, d, "c", map[string]any{"exit_code": "one"}), driver.ErrInvalidConfig)
}
