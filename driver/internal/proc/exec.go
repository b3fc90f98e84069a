//go:build unix

package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/droverhq/drover/driver"
)

// execOutputWait bounds how long an exec'd command's output is read after
// it exited, when processes it left behind hold its output open.
const execOutputWait = 2 * time.Second

// Joiner is a Confinement that can take in a command run inside its task
// (an exec session) beside the task's own processes.
type Joiner interface {
	// Join sets what the command must start with; release is called once
	// the start was tried.
	Join(attr *syscall.SysProcAttr) (release func(), err error)
}

// ExecTask implements driver.ExecDriver: the command runs in the task's
// directory with its environment, in a process group of its own (on a
// terminal, a session of its own) and, for a confined task, in its
// confinement. Cancelling ctx kills the command's group.
func (d *Driver) ExecTask(ctx context.Context, taskID string, opts *driver.ExecOptions) (*driver.ExitResult, error) {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return nil, err
	}
	if t.exit.Result() != nil {
		return nil, d.errorf("task %s is not running: %w", taskID, driver.ErrTaskNotFound)
	}
	if opts == nil {
		return nil, d.errorf("%w: exec: no options", driver.ErrInvalidConfig)
	}
	opts = opts.WithDefaults()
	if len(opts.Command) == 0 || strings.TrimSpace(opts.Command[0]) == "" {
		return nil, d.errorf("%w: exec: no command", driver.ErrInvalidConfig)
	}
	for _, a := range opts.Command {
		if strings.ContainsRune(a, 0) {
			return nil, d.errorf("%w: exec: the command holds a NUL byte", driver.ErrInvalidConfig)
		}
	}
	path, err := resolveCommand(opts.Command[0], opts.Dir, opts.Env["PATH"])
	if err != nil {
		return nil, d.errorf("exec: %w", err)
	}
	cmd := &exec.Cmd{
		Path: path, Args: opts.Command, Env: environ(opts.Env), Dir: opts.Dir,
		SysProcAttr: &syscall.SysProcAttr{}, WaitDelay: execOutputWait,
	}
	if j, ok := t.confined.(Joiner); ok {
		release, err := j.Join(cmd.SysProcAttr)
		if err != nil {
			return nil, d.errorf("exec: %w", err)
		}
		defer release()
	}
	if opts.Tty {
		return d.execTTY(ctx, cmd, opts)
	}
	return d.execPipes(ctx, cmd, opts)
}

// execPipes runs cmd with its stdin fed from opts.Stdin and its output
// copied to opts.Stdout and opts.Stderr.
func (d *Driver) execPipes(ctx context.Context, cmd *exec.Cmd, opts *driver.ExecOptions) (*driver.ExitResult, error) {
	cmd.SysProcAttr.Setpgid = true
	cmd.Stdout, cmd.Stderr = opts.Stdout, opts.Stderr
	stdin, stdinW, err := os.Pipe()
	if err != nil {
		return nil, d.errorf("exec: %w", err)
	}
	cmd.Stdin = stdin
	if err := cmd.Start(); err != nil {
		stdin.Close()
		stdinW.Close()
		return nil, d.errorf("exec: start %q: %w", cmd.Args[0], err)
	}
	stdin.Close()
	// The input is copied until the operator closes it; the command's
	// exit does not wait for it (a write after the exit fails, ending
	// the copy).
	go func() {
		_, _ = io.Copy(stdinW, opts.Stdin)
		stdinW.Close()
	}()
	return d.waitExec(ctx, cmd, func() { stdinW.Close() })
}

// execTTY runs cmd on a new pseudo-terminal.
func (d *Driver) execTTY(ctx context.Context, cmd *exec.Cmd, opts *driver.ExecOptions) (*driver.ExitResult, error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, d.errorf("exec: open a terminal: %w", err)
	}
	defer ptmx.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty = true, true
	if err := cmd.Start(); err != nil {
		tty.Close()
		return nil, d.errorf("exec: start %q: %w", cmd.Args[0], err)
	}
	tty.Close()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		// Until the terminal hangs up (EIO once the command and every
		// process holding the terminal are gone).
		defer wg.Done()
		_, _ = io.Copy(opts.Stdout, ptmx)
	}()
	done := make(chan struct{})
	var resizing sync.WaitGroup
	// The terminal is resized only while it is open.
	defer func() {
		close(done)
		resizing.Wait()
	}()
	go func() {
		_, _ = io.Copy(ptmx, opts.Stdin)
		// A closed input reads as end-of-file at the terminal.
		select {
		case <-done:
		default:
			_, _ = ptmx.Write([]byte{4})
		}
	}()
	resizing.Add(1)
	go func() {
		defer resizing.Done()
		for {
			select {
			case <-done:
				return
			case sz, ok := <-opts.Resize:
				if !ok {
					return
				}
				_ = pty.Setsize(ptmx, &pty.Winsize{Rows: uint16(max(sz.Height, 0)), Cols: uint16(max(sz.Width, 0))})
			}
		}
	}()
	res, err := d.waitExec(ctx, cmd, func() {})
	// The terminal's output is read until it hangs up, but no longer
	// than execOutputWait once the command exited.
	drained := make(chan struct{})
	go func() {
		wg.Wait()
		close(drained)
	}()
	timer := time.NewTimer(execOutputWait)
	defer timer.Stop()
	select {
	case <-drained:
	case <-timer.C:
		ptmx.Close()
		<-drained
	}
	return res, err
}

// waitExec waits for cmd; ctx's end kills its process group first.
func (d *Driver) waitExec(ctx context.Context, cmd *exec.Cmd, closeInput func()) (*driver.ExitResult, error) {
	pid := cmd.Process.Pid
	waited := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		case <-waited:
		}
	}()
	err := cmd.Wait()
	close(waited)
	closeInput()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	res := exitResult(cmd.ProcessState, err)
	if ctx.Err() != nil {
		return res, fmt.Errorf("exec: %w", ctx.Err())
	}
	return res, nil
}

// SignalTask implements driver.SignalDriver: the signal goes to the
// task's process group.
func (d *Driver) SignalTask(taskID, signal string) error {
	t, err := d.tasks.Get(taskID)
	if err != nil {
		return err
	}
	sig, err := driver.ParseSignal(signal)
	if err != nil {
		return d.errorf("signal %s: %w", taskID, err)
	}
	if t.exit.Result() != nil {
		return d.errorf("task %s has exited: %w", taskID, driver.ErrTaskNotFound)
	}
	if err := t.signal(sig); err != nil {
		return d.errorf("signal %s: %w", taskID, err)
	}
	return nil
}
