package fn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/droverhq/drover/driver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const deadline = 10 * time.Second

func cfg(t *testing.T, id, fn string, args ...any) *driver.TaskConfig {
	t.Helper()
	dir := t.TempDir()
	return &driver.TaskConfig{
		ID: id, AllocID: "alloc", TaskName: id, TaskDir: dir, Config: map[string]any{"func": fn, "args": args},
		Env:        map[string]string{"COLOR": "blue"},
		StdoutPath: filepath.Join(dir, "out"), StderrPath: filepath.Join(dir, "err"),
	}
}

func start(t *testing.T, d *Driver, c *driver.TaskConfig) {
	t.Helper()
	h, err := d.StartTask(context.Background(), c)
	require.NoError(t, err)
	require.Equal(t, c.ID, h.ID)
	require.Equal(t, Name, h.Driver)
}

func result(t *testing.T, d *Driver, id string) *driver.ExitResult {
	t.Helper()
	ch, err := d.WaitTask(context.Background(), id)
	require.NoError(t, err)
	select {
	case r, ok := <-ch:
		require.True(t, ok)
		return r
	case <-time.After(deadline):
		t.Fatal("function did not finish")
		return nil
	}
}

func TestFunctionSeesItsTaskAndWritesItsLogs(t *testing.T) {
	d := New(nil)
	require.NoError(t, d.Register("echo", func(_ context.Context, task *Task) error {
		fmt.Fprintf(task.Stdout, "%v %s %s %s\n", task.Args, task.Env["COLOR"], task.AllocID, task.Dir)
		fmt.Fprintln(task.Stderr, "to stderr")
		task.Env["COLOR"] = "changed"
		return nil
	}))
	c := cfg(t, "a", "echo", "x", "y")
	start(t, d, c)
	require.True(t, result(t, d, "a").Successful())
	require.NoError(t, d.DestroyTask("a", false))

	out, err := os.ReadFile(c.StdoutPath)
	require.NoError(t, err)
	require.Equal(t, "[x y] blue alloc "+c.TaskDir+"\n", string(out))
	errOut, err := os.ReadFile(c.StderrPath)
	require.NoError(t, err)
	require.Equal(t, "to stderr\n", string(errOut))
	require.Equal(t, "blue", c.Env["COLOR"], "the function gets its own copy of the environment")
}

func TestExitResults(t *testing.T) {
	d := New(nil)
	boom := errors.New("boom")
	funcs := map[string]Func{
		"ok":      func(context.Context, *Task) error { return nil },
		"fail":    func(context.Context, *Task) error { return boom },
		"code":    func(context.Context, *Task) error { return &ExitError{Code: 7, Err: boom} },
		"bare":    func(context.Context, *Task) error { return &ExitError{Code: 3} },
		"zero":    func(context.Context, *Task) error { return &ExitError{} },
		"wrapped": func(context.Context, *Task) error { return fmt.Errorf("ctx: %w", &ExitError{Code: 4}) },
		"panic":   func(context.Context, *Task) error { panic("bad input") },
		"goexit":  func(context.Context, *Task) error { runtime.Goexit(); return nil },
	}
	for name, f := range funcs {
		require.NoError(t, d.Register(name, f))
	}
	for name := range funcs {
		start(t, d, cfg(t, name, name))
	}
	results := map[string]*driver.ExitResult{}
	for name := range funcs {
		results[name] = result(t, d, name)
		require.NoError(t, d.DestroyTask(name, false))
	}

	require.True(t, results["ok"].Successful())
	require.Equal(t, 1, results["fail"].ExitCode)
	require.ErrorIs(t, results["fail"].Err, boom)
	require.Equal(t, 7, results["code"].ExitCode)
	require.Equal(t, boom, results["code"].Err)
	require.Equal(t, 3, results["bare"].ExitCode)
	require.Error(t, results["bare"].Err)
	require.True(t, results["zero"].Successful(), "ExitError with code 0 and no error is a clean exit")
	require.Equal(t, 4, results["wrapped"].ExitCode)
	require.EqualError(t, results["wrapped"].Err, "ctx: exit code 4")

	p := results["panic"]
	require.Equal(t, 2, p.ExitCode)
	require.ErrorContains(t, p.Err, "panicked: bad input")
	pe, ok := errors.AsType[*PanicError](p.Err)
	require.True(t, ok)
	require.Equal(t, "bad input", pe.Value)
	require.Contains(t, string(pe.Stack), "fn_test.go")

	require.Equal(t, 1, results["goexit"].ExitCode)
	require.Error(t, results["goexit"].Err)
}

func TestStopCancelsTheContext(t *testing.T) {
	d := New(nil)
	started := make(chan struct{})
	require.NoError(t, d.Register("wait", func(ctx context.Context, _ *Task) error {
		close(started)
		<-ctx.Done()
		return nil
	}))
	start(t, d, cfg(t, "w", "wait"))
	<-started
	require.ErrorIs(t, d.DestroyTask("w", false), driver.ErrTaskRunning)
	require.NoError(t, d.StopTask(context.Background(), "w", deadline, "SIGTERM"))
	require.True(t, result(t, d, "w").Successful(), "a function returning nil after a stop exits cleanly")
	require.NoError(t, d.DestroyTask("w", false))
	require.ErrorIs(t, d.StopTask(context.Background(), "w", time.Second, ""), driver.ErrTaskNotFound)
}

// stubborn registers a function that ignores its context until release is
// closed, and closes done when it returns, and starts it as task "s" with
// the kill timeout given.
func stubborn(t *testing.T, d *Driver, killTimeout time.Duration) (release, done chan struct{}) {
	release, done = make(chan struct{}), make(chan struct{})
	started := make(chan struct{})
	require.NoError(t, d.Register("stubborn", func(_ context.Context, task *Task) error {
		defer close(done)
		close(started)
		<-release
		fmt.Fprintln(task.Stdout, "still writing")
		return nil
	}))
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
		<-done
	})
	c := cfg(t, "s", "stubborn")
	c.KillTimeout = killTimeout
	start(t, d, c)
	<-started
	return release, done
}

func TestStopAbandonsAFunctionIgnoringCancellation(t *testing.T) {
	d := New(nil)
	release, done := stubborn(t, d, deadline)
	began := time.Now()
	require.NoError(t, d.StopTask(context.Background(), "s", 50*time.Millisecond, ""))
	require.GreaterOrEqual(t, time.Since(began), 50*time.Millisecond)
	r := result(t, d, "s")
	require.Equal(t, -1, r.ExitCode)
	require.ErrorIs(t, r.Err, ErrAbandoned)
	require.NoError(t, d.DestroyTask("s", false))

	// The abandoned goroutine may still finish, and its output still lands.
	close(release)
	<-done
}

func TestForcedDestroyStopsTheFunction(t *testing.T) {
	d := New(nil)
	require.NoError(t, d.Register("wait", func(ctx context.Context, _ *Task) error {
		<-ctx.Done()
		return ctx.Err()
	}))
	start(t, d, cfg(t, "w", "wait"))
	ch, err := d.WaitTask(context.Background(), "w")
	require.NoError(t, err)
	require.NoError(t, d.DestroyTask("w", true))
	select {
	case r := <-ch:
		require.ErrorIs(t, r.Err, context.Canceled)
	case <-time.After(deadline):
		t.Fatal("no exit after a forced destroy")
	}

	_, _ = stubborn(t, d, 20*time.Millisecond)
	require.NoError(t, d.DestroyTask("s", true), "a forced destroy returns even if the function does not")
}

func TestStopHonoursItsContext(t *testing.T) {
	d := New(nil)
	_, _ = stubborn(t, d, 20*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, d.StopTask(ctx, "s", deadline, ""), context.DeadlineExceeded)
	require.NoError(t, d.DestroyTask("s", true))
}

func TestRegistration(t *testing.T) {
	d := New(nil)
	nop := func(context.Context, *Task) error { return nil }
	require.Error(t, d.Register("", nop))
	require.Error(t, d.Register("a,b", nop))
	require.Error(t, d.Register("x", nil))
	require.Equal(t, "", d.Fingerprint(context.Background()).Attributes["driver.fn.funcs"])
	require.NoError(t, d.Register("x", nop))
	require.ErrorIs(t, d.Register("x", nop), ErrAlreadyRegistered)
	require.NoError(t, d.Register("b", nop))

	fp := d.Fingerprint(context.Background())
	require.True(t, fp.Detected)
	require.True(t, fp.Healthy)
	require.Equal(t, "1", fp.Attributes["driver.fn"])
	require.Equal(t, "b,x", fp.Attributes["driver.fn.funcs"])
}

func TestBadConfigStartsNothing(t *testing.T) {
	d := New(nil)
	ran := make(chan struct{}, 10)
	require.NoError(t, d.Register("x", func(context.Context, *Task) error { ran <- struct{}{}; return nil }))
	for name, c := range map[string]*driver.TaskConfig{
		"unknown func": cfg(t, "u", "unknown"),
		"no func":      cfg(t, "n", ""),
		"args":         cfg(t, "v", "x", 3.0),
		"unknown key":  {ID: "k", Config: map[string]any{"func": "x", "arg": []any{}}},
		"func type":    {ID: "f", Config: map[string]any{"func": 1.0}},
		"no id":        {Config: map[string]any{"func": "x"}},
		"nil":          nil,
	} {
		_, err := d.StartTask(context.Background(), c)
		require.ErrorIs(t, err, driver.ErrInvalidConfig, name)
	}
	require.Empty(t, ran)
	_, err := d.WaitTask(context.Background(), "u")
	require.ErrorIs(t, err, driver.ErrTaskNotFound)

	start(t, d, cfg(t, "dup", "x"))
	_, err = d.StartTask(context.Background(), cfg(t, "dup", "x"))
	require.ErrorContains(t, err, "already started")
	result(t, d, "dup")
	require.NoError(t, d.DestroyTask("dup", false))
}

func TestRecoverFindsOnlyTasksOfTheSameInstance(t *testing.T) {
	d := New(nil)
	require.NoError(t, d.Register("x", func(ctx context.Context, _ *Task) error { <-ctx.Done(); return nil }))
	start(t, d, cfg(t, "x", "x"))
	require.NoError(t, d.RecoverTask(&driver.TaskHandle{ID: "x", Driver: Name}),
		"a client restarted in the same process, with the same driver, reattaches")
	other := New(nil)
	require.ErrorIs(t, other.RecoverTask(&driver.TaskHandle{ID: "x", Driver: Name}), driver.ErrTaskNotFound,
		"a function does not survive its process")
	require.ErrorIs(t, d.RecoverTask(&driver.TaskHandle{ID: "x", Driver: "mock"}), driver.ErrTaskNotFound)
	require.ErrorIs(t, d.RecoverTask(nil), driver.ErrTaskNotFound)
	require.NoError(t, d.DestroyTask("x", true))
	require.ErrorIs(t, d.RecoverTask(&driver.TaskHandle{ID: "x", Driver: Name}), driver.ErrTaskNotFound)
}

func TestConcurrentTasks(t *testing.T) {
	d := New(nil)
	require.NoError(t, d.Register("id", func(_ context.Context, task *Task) error {
		n, _ := strconv.Atoi(task.Args[0])
		return &ExitError{Code: n}
	}))
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			errs <- func() error {
				id := "t" + strconv.Itoa(i)
				if _, err := d.StartTask(context.Background(), cfg(t, id, "id", strconv.Itoa(i))); err != nil {
					return err
				}
				ch, err := d.WaitTask(context.Background(), id)
				if err != nil {
					return err
				}
				select {
				case r := <-ch:
					if r == nil || r.ExitCode != i {
						return fmt.Errorf("task %s: got %+v", id, r)
					}
				case <-time.After(deadline):
					return fmt.Errorf("task %s did not finish", id)
				}
				_ = d.Fingerprint(context.Background())
				return d.DestroyTask(id, false)
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
