package mock

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/droverhq/drover/driver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(d *Driver, id string, config map[string]any) error {
	_, err := d.StartTask(context.Background(), &driver.TaskConfig{ID: id, Config: config})
	return err
}

func exit(t *testing.T, d *Driver, id string) *driver.ExitResult {
	t.Helper()
	ch, err := d.WaitTask(context.Background(), id)
	require.NoError(t, err)
	select {
	case r, ok := <-ch:
		require.True(t, ok)
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("mock task did not exit")
		return nil
	}
}

func TestScriptedExits(t *testing.T) {
	d := New(nil)
	require.NoError(t, start(d, "ok", map[string]any{"run_for": "10ms", "kill_after": "1s"}))
	require.True(t, exit(t, d, "ok").Successful())
	require.NoError(t, start(d, "now", map[string]any{"run_for": 0.0}))
	require.True(t, exit(t, d, "now").Successful())
	require.NoError(t, start(d, "bad", map[string]any{"exit_code": 4.0, "exit_err_msg": "nope"}))
	r := exit(t, d, "bad")
	require.Equal(t, 4, r.ExitCode)
	require.EqualError(t, r.Err, "nope")
	for _, id := range []string{"ok", "now", "bad"} {
		require.NoError(t, d.DestroyTask(id, false))
	}

	err := start(d, "fails", map[string]any{"start_error": "no luck"})
	require.ErrorIs(t, err, ErrStartFailed)
	require.ErrorContains(t, err, "no luck")
	require.NotErrorIs(t, err, driver.ErrInvalidConfig)
	_, err = d.WaitTask(context.Background(), "fails")
	require.ErrorIs(t, err, driver.ErrTaskNotFound)
}

func TestStdoutString(t *testing.T) {
	d := New(nil)
	out := filepath.Join(t.TempDir(), "out")
	_, err := d.StartTask(context.Background(), &driver.TaskConfig{
		ID: "o", StdoutPath: out, Config: map[string]any{"stdout_string": "hello\n"},
	})
	require.NoError(t, err)
	exit(t, d, "o")
	require.NoError(t, d.DestroyTask("o", false))
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, "hello\n", string(data))
}

func TestRunsUntilStopped(t *testing.T) {
	for _, forever := range []any{"-1", "-1s", -1.0} {
		d := New(nil)
		require.NoError(t, start(d, "forever", map[string]any{"run_for": forever}))
		require.NoError(t, d.RecoverTask(&driver.TaskHandle{ID: "forever", Driver: Name}), "a task held is recovered as it is")
		require.ErrorIs(t, New(nil).RecoverTask(&driver.TaskHandle{ID: "forever"}), driver.ErrTaskNotFound,
			"another instance cannot recover a handle without a script")
		require.ErrorIs(t, d.RecoverTask(&driver.TaskHandle{ID: "forever", Driver: "raw_exec"}), driver.ErrTaskNotFound)
		require.ErrorIs(t, d.RecoverTask(nil), driver.ErrTaskNotFound)
		require.ErrorIs(t, d.DestroyTask("forever", false), driver.ErrTaskRunning)
		require.Error(t, start(d, "forever", nil), "IDs are unique")

		require.NoError(t, d.StopTask(context.Background(), "forever", time.Second, ""))
		r := exit(t, d, "forever")
		require.Equal(t, 15, r.Signal)
		require.Equal(t, 143, r.ExitCode)
		require.NoError(t, d.DestroyTask("forever", false))
		require.ErrorIs(t, d.StopTask(context.Background(), "forever", time.Second, ""), driver.ErrTaskNotFound)
	}
}

func TestForcedDestroyEndsTheTask(t *testing.T) {
	d := New(nil)
	require.NoError(t, start(d, "f", map[string]any{"run_for": "1h"}))
	ch, err := d.WaitTask(context.Background(), "f")
	require.NoError(t, err)
	require.NoError(t, d.DestroyTask("f", true))
	select {
	case r := <-ch:
		require.Equal(t, 15, r.Signal)
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after a forced destroy")
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	d := New(nil)
	require.NoError(t, start(d, "w", map[string]any{"run_for": "-1"}))
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := d.WaitTask(ctx, "w")
	require.NoError(t, err)
	cancel()
	select {
	case r, ok := <-ch:
		require.False(t, ok, "a cancelled wait closes without a result")
		require.Nil(t, r)
	case <-time.After(10 * time.Second):
		t.Fatal("the wait channel stayed open")
	}
	require.NoError(t, d.DestroyTask("w", true))
}

func TestBadConfig(t *testing.T) {
	d := New(nil)
	for name, c := range map[string]map[string]any{
		"run_for text":   {"run_for": "soon"},
		"run_for number": {"run_for": 5.0},
		"run_for type":   {"run_for": true},
		"exit_code frac": {"exit_code": 1.5},
		"exit_code text": {"exit_code": "one"},
		"err msg type":   {"exit_err_msg": 3.0},
		"start_error":    {"start_error": []any{}},
		"unknown key":    {"run_for": "1s", "exitcode": 1.0},
	} {
		require.ErrorIs(t, start(d, "x", c), driver.ErrInvalidConfig, name)
	}
	_, err := d.StartTask(context.Background(), nil)
	require.ErrorIs(t, err, driver.ErrInvalidConfig)
	_, err = d.StartTask(context.Background(), &driver.TaskConfig{})
	require.ErrorIs(t, err, driver.ErrInvalidConfig)
	_, err = d.WaitTask(context.Background(), "x")
	require.ErrorIs(t, err, driver.ErrTaskNotFound)
}

func TestFingerprint(t *testing.T) {
	fp := New(nil).Fingerprint(context.Background())
	require.True(t, fp.Detected)
	require.True(t, fp.Healthy)
	require.Equal(t, "1", fp.Attributes["driver.mock"])
}

func TestRecoverResumesTheScriptOnAnotherInstance(t *testing.T) {
	first := New(nil)
	h, err := first.StartTask(context.Background(), &driver.TaskConfig{
		ID: "r", Config: map[string]any{"run_for": "300ms", "exit_code": 3.0, "exit_err_msg": "done"},
	})
	require.NoError(t, err)
	first.Close()

	second := New(nil)
	require.NoError(t, second.RecoverTask(h))
	require.NoError(t, second.RecoverTask(h), "recovering twice is a no-op")
	r := exit(t, second, "r")
	require.Equal(t, 3, r.ExitCode, "the recovered task ends as its script says")
	require.EqualError(t, r.Err, "done")
	require.GreaterOrEqual(t, time.Since(h.StartedAt), 300*time.Millisecond, "counted from the original start")

	// A task whose run is already over ends at once when recovered.
	late := *h
	late.ID = "late"
	late.StartedAt = time.Now().Add(-time.Hour)
	require.NoError(t, second.RecoverTask(&late))
	require.Equal(t, 3, exit(t, second, "late").ExitCode)

	forever, err := first.StartTask(context.Background(), &driver.TaskConfig{ID: "f", Config: map[string]any{"run_for": "-1"}})
	require.NoError(t, err)
	require.NoError(t, second.RecoverTask(forever))
	require.ErrorIs(t, second.DestroyTask("f", false), driver.ErrTaskRunning, "a recovered endless task runs until stopped")
	require.NoError(t, second.StopTask(context.Background(), "f", time.Second, ""))
	require.Equal(t, 143, exit(t, second, "f").ExitCode)
	first.Close()

	bad := *h
	bad.ID, bad.State = "bad", []byte("{")
	require.ErrorIs(t, second.RecoverTask(&bad), driver.ErrTaskNotFound)
}
