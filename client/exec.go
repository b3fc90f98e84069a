package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// errNoExecStart: an exec session's first message must say what to run.
var errNoExecStart = fmt.Errorf("%w: an exec session must start with the command to run", structs.ErrBadRequest)

// runExec runs start's command in a running task: input comes from recv
// (stdin, its close, terminal sizes) and output goes to send, ending with
// the command's exit code. It returns when the command has exited, or
// with ctx (which kills it).
func (c *Client) runExec(ctx context.Context, start *structs.ExecStart,
	recv func() (*structs.ExecInput, error), send func(*structs.ExecOutput) error) error {
	r, err := c.allocRunner(start.GetAllocId())
	if err != nil {
		return err
	}
	tr, err := r.task(start.GetTask())
	if err != nil {
		return err
	}
	if len(start.GetCommand()) == 0 {
		return fmt.Errorf("%w: no command to run", structs.ErrBadRequest)
	}
	ed, ok := tr.drv.(driver.ExecDriver)
	if !ok {
		return fmt.Errorf("%w: the %s driver cannot run commands in its tasks: exec is not supported", structs.ErrBadRequest, tr.task.Driver)
	}
	if !tr.ctl.running() {
		return notRunning(errTaskNotRunning, start.GetTask())
	}
	cfg := tr.config()
	if err := (envHook{}).prestart(ctx, tr, cfg); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	stdin, stdinW := io.Pipe()
	defer stdin.Close()
	resize := make(chan driver.TerminalSize, 4)
	go func() {
		for {
			in, err := recv()
			if err != nil {
				// The operator's side is gone: its input ends.
				stdinW.Close()
				return
			}
			if len(in.GetStdin()) > 0 {
				if _, err := stdinW.Write(in.Stdin); err != nil {
					return
				}
			}
			if in.GetStdinClose() {
				stdinW.Close()
			}
			if sz := in.GetTtySize(); sz != nil {
				select {
				case resize <- driver.TerminalSize{Height: int(sz.Height), Width: int(sz.Width)}:
				default:
				}
			}
		}
	}()
	var mu sync.Mutex
	out := func(o *structs.ExecOutput) error {
		mu.Lock()
		defer mu.Unlock()
		return send(o)
	}
	res, err := ed.ExecTask(ctx, cfg.ID, &driver.ExecOptions{
		Command: start.Command, Env: cfg.Env, Dir: cfg.TaskDir, Tty: start.GetTty(), Resize: resize, Stdin: stdin,
		Stdout: execWriter(func(p []byte) error { return out(&structs.ExecOutput{Stdout: p}) }),
		Stderr: execWriter(func(p []byte) error { return out(&structs.ExecOutput{Stderr: p}) }),
	})
	if err != nil {
		if errors.Is(err, driver.ErrInvalidConfig) || errors.Is(err, driver.ErrTaskNotFound) {
			return fmt.Errorf("%w: %w", structs.ErrBadRequest, err)
		}
		return err
	}
	if err := out(&structs.ExecOutput{StdoutClose: true, StderrClose: true}); err != nil {
		return err
	}
	return out(&structs.ExecOutput{Exited: true, ExitCode: int32(res.ExitCode)})
}

// execWriter sends what a command writes; the bytes are copied, since the
// caller reuses its buffer.
type execWriter func([]byte) error

func (w execWriter) Write(p []byte) (int, error) {
	if err := w(slices.Clone(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// localExec is an exec session run in this process, for the client's own
// HTTP API: the operator's side of runExec.
type localExec struct {
	in     chan *structs.ExecInput
	out    chan *structs.ExecOutput
	done   chan struct{}
	err    error
	closed sync.Once
	closeC chan struct{}
}

func (c *Client) startLocalExec(ctx context.Context, start *structs.ExecStart) *localExec {
	s := &localExec{
		in: make(chan *structs.ExecInput), out: make(chan *structs.ExecOutput),
		done: make(chan struct{}), closeC: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		s.err = c.runExec(ctx, start, s.recv, s.send)
	}()
	return s
}

func (s *localExec) recv() (*structs.ExecInput, error) {
	select {
	case in := <-s.in:
		return in, nil
	case <-s.closeC:
		return nil, io.EOF
	case <-s.done:
		return nil, io.EOF
	}
}

func (s *localExec) send(o *structs.ExecOutput) error {
	select {
	case s.out <- o:
		return nil
	case <-s.done:
		return io.ErrClosedPipe
	}
}

// Send implements structs.ExecStream.
func (s *localExec) Send(in *structs.ExecInput) error {
	select {
	case s.in <- in:
		return nil
	case <-s.done:
		return io.EOF
	}
}

// Recv implements structs.ExecStream.
func (s *localExec) Recv() (*structs.ExecOutput, error) {
	select {
	case o := <-s.out:
		return o, nil
	case <-s.done:
		select {
		case o := <-s.out:
			return o, nil
		default:
		}
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	}
}

// CloseSend implements structs.ExecStream.
func (s *localExec) CloseSend() error {
	s.closed.Do(func() { close(s.closeC) })
	return nil
}
