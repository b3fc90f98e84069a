//go:build linux

package rawexec

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/driver"
)

func TestExecRunsACommandInTheTasksEnvironment(t *testing.T) {
	d := New(nil)
	cfg := taskConfig(t, "t1", "/bin/sh", "-c", "sleep 60")
	start(t, d, cfg)
	defer d.DestroyTask("t1", true)

	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	res, err := d.ExecTask(ctx, "t1", &driver.ExecOptions{
		Command: []string{"/bin/sh", "-c", `cat; echo "$GREETING from $(pwd)" >&2; exit 3`},
		Env:     cfg.Env, Dir: cfg.TaskDir,
		Stdin: strings.NewReader("line one\nline two\n"), Stdout: &out, Stderr: &errOut,
	})
	require.NoError(t, err)
	require.Equal(t, 3, res.ExitCode, "the command's exit code comes back")
	require.Equal(t, "line one\nline two\n", out.String(), "stdin reached the command, and its end ended cat")
	require.Equal(t, "hello from "+cfg.TaskDir+"\n", errOut.String())

	// With a terminal, the command's stdin is one.
	out.Reset()
	res, err = d.ExecTask(ctx, "t1", &driver.ExecOptions{
		Command: []string{"/bin/sh", "-c", `test -t 0 && echo on-a-tty`}, Env: cfg.Env, Dir: cfg.TaskDir, Tty: true,
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
	})
	require.NoError(t, err)
	require.Zero(t, res.ExitCode)
	require.Contains(t, out.String(), "on-a-tty")

	// Without streams, the command reads an empty input and its output
	// goes nowhere; nil options are refused.
	for _, tty := range []bool{false, true} {
		res, err = d.ExecTask(ctx, "t1", &driver.ExecOptions{Command: []string{"/bin/sh", "-c", "cat; echo out; echo err >&2"}, Tty: tty})
		require.NoError(t, err)
		require.Zero(t, res.ExitCode)
	}
	_, err = d.ExecTask(ctx, "t1", nil)
	require.ErrorIs(t, err, driver.ErrInvalidConfig)

	// A task that is gone cannot be exec'd into.
	_, err = d.ExecTask(ctx, "nope", &driver.ExecOptions{Command: []string{"true"}})
	require.ErrorIs(t, err, driver.ErrTaskNotFound)
}

func TestExecIsKilledWithItsContext(t *testing.T) {
	d := New(nil)
	cfg := taskConfig(t, "t1", "/bin/sh", "-c", "sleep 60")
	start(t, d, cfg)
	defer d.DestroyTask("t1", true)
	ctx, cancel := context.WithCancel(context.Background())
	stdin, stdinW := ioPipe()
	defer stdinW.Close()
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		_, err := d.ExecTask(ctx, "t1", &driver.ExecOptions{
			Command: []string{"/bin/sh", "-c", "echo started; exec sleep 60"}, Env: cfg.Env, Dir: cfg.TaskDir,
			Stdin: stdin, Stdout: &syncWriter{w: &out}, Stderr: &syncWriter{w: &out},
		})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(deadline):
		t.Fatal("exec outlived its context")
	}
}

func TestSignalAndStats(t *testing.T) {
	d := New(nil)
	cfg := taskConfig(t, "t1", "/bin/sh", "-c", `trap 'echo got-usr1 > usr1' USR1; echo ready > ready; while true; do sleep 0.05; done`)
	start(t, d, cfg)
	defer d.DestroyTask("t1", true)
	waitForFile(t, filepath.Join(cfg.TaskDir, "ready"))
	require.NoError(t, d.SignalTask("t1", "SIGUSR1"))
	require.Equal(t, "got-usr1", waitForFile(t, filepath.Join(cfg.TaskDir, "usr1")))
	require.Error(t, d.SignalTask("t1", "SIGNOPE"))

	u, err := d.TaskStats(context.Background(), "t1")
	require.NoError(t, err)
	require.NotEmpty(t, u.Pids)
	require.Positive(t, u.RSS, "the shell's resident set is measured")
	require.GreaterOrEqual(t, u.Percent, 0.0)
	_, err = os.Stat("/proc/self/stat")
	require.NoError(t, err)
}

func ioPipe() (*os.File, *os.File) {
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	return r, w
}

// syncWriter serializes writes from the command's two output copiers.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
