package fn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/droverhq/drover/driver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func cfg(t *testing.T, id, fn string, args ...any) *driver.TaskConfig {
	dir := t.TempDir()
	return &driver.TaskConfig{
		ID: id, TaskName: id, TaskDir: dir, Config: map[string]any{"func": fn, "args": args},
		StdoutPath: filepath.Join(dir, "out"), StderrPath: filepath.Join(dir, "err"),
	}
}

func result(t *testing.T, d *Driver, id string) *driver.ExitResult {
	t.Helper()
	ch, err := d.WaitTask(context.Background(), id)
	require.NoError(t, err)
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("function did not finish")
		return nil
	}
}

func TestFunctionsRunWithArgsAndOutput(t *testing.T) {
	d := New(nil)
	require.NoError(t, d.Register("echo", func(ctx context.Context, task *Task) error {
		fmt.Fprintln(task.Stdout, task.Args)
		return nil
	}))
	require.NoError(t, d.Register("fail", func(context.Context, *Task) error { return errors.New("boom") }))
	require.NoError(t, d.Register("code", func(context.Context, *Task) error { return &ExitError{Code: 7} }))
	require.NoError(t, d.Register("panic", func(context.Context, *Task) error { panic("bad input") }))

	c := cfg(t, "a", "echo", "x", "y")
	_, err := d.StartTask(context.Background(), c)
	require.NoError(t, err)
	require.True(t, result(t, d, "a").Successful())
	out, err := os.ReadFile(c.StdoutPath)
	require.NoError(t, err)
	require.Equal(t, "[x y]\n", string(out))

	for id, want := range map[string]int{"fail": 1, "code": 7, "panic": 2} {
		_, err := d.StartTask(context.Background(), cfg(t, id, id))
		require.NoError(t, err)
		r := result(t, d, id)
		require.Equal(t, want, r.ExitCode, id)
		require.NoError(t, d.DestroyTask(id, false))
	}
	fp := d.Fingerprint(context.Background())
	require.Equal(t, "code,echo,fail,panic", fp.Attributes["driver.fn.funcs"])
}

func TestStopCancelsTheContext(t *testing.T) {
	d := New(nil)
	require.NoError(t, d.Register("wait", func(ctx context.Context, _ *Task) error {
		<-ctx.Done()
		return nil
	}))
	_, err := d.StartTask(context.Background(), cfg(t, "w", "wait"))
	require.NoError(t, err)
	require.ErrorIs(t, d.DestroyTask("w", false), driver.ErrTaskRunning)
	require.NoError(t, d.StopTask(context.Background(), "w", time.Second, ""))
	require.True(t, result(t, d, "w").Successful())
	require.NoError(t, d.DestroyTask("w", false))
}

func TestRegistrationAndConfigErrors(t *testing.T) {
	d := New(nil)
	require.Error(t, d.Register("", func(context.Context, *Task) error { return nil }))
	require.Error(t, d.Register("x", nil))
	require.NoError(t, d.Register("x", func(context.Context, *Task) error { return nil }))
	require.Error(t, d.Register("x", func(context.Context, *Task) error { return nil }), "names are unique")

	_, err := d.StartTask(context.Background(), cfg(t, "u", "unknown"))
	require.ErrorIs(t, err, driver.ErrInvalidConfig)
	_, err = d.StartTask(context.Background(), cfg(t, "v", "x", 3.0))
	require.ErrorIs(t, err, driver.ErrInvalidConfig)
	require.ErrorIs(t, d.RecoverTask(&driver.TaskHandle{ID: "x"}), driver.ErrTaskNotFound)
}
