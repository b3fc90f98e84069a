package client

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// Log streams, as TaskLogs takes them.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// followInterval is how often a followed log is checked for new output.
const followInterval = 100 * time.Millisecond

// TaskLogs returns a reader of a task's output on this client: stream is
// "stdout" or "stderr". It reads the rotated copies still kept, oldest
// first, then the live file, as far as it is written when the reader
// reaches it, through the reader of the log stream endpoint: a rotation
// while it reads neither loses nor repeats anything but what the rotator
// itself could not copy. It fails with an error matching structs.ErrNotFound when
// the allocation has no directory on this client or the task is not one
// of its own; a task that has not written yet has an empty log. The
// caller closes the reader.
func (c *Client) TaskLogs(allocID, task, stream string) (io.ReadCloser, error) {
	return c.openLogs(context.Background(), allocID, task, stream, false)
}

// FollowTaskLogs is TaskLogs that does not stop at the end of the live
// file: it waits for the task to write more (checking every 100ms) and
// follows the live file across its rotations. It returns io.EOF once the
// task has ended for good (its state is dead, or its allocation no longer
// runs here) and everything it wrote has been read, ctx's error once ctx
// is done, and fs.ErrClosed once the reader is closed.
func (c *Client) FollowTaskLogs(ctx context.Context, allocID, task, stream string) (io.ReadCloser, error) {
	return c.openLogs(ctx, allocID, task, stream, true)
}

// openLogs checks the names and starts a logReader whose frames feed the
// returned reader.
func (c *Client) openLogs(ctx context.Context, allocID, task, stream string, follow bool) (io.ReadCloser, error) {
	if stream != StreamStdout && stream != StreamStderr {
		return nil, fmt.Errorf("%w: a log stream is %q or %q, not %s", structs.ErrBadRequest, StreamStdout, StreamStderr, structs.Quote(stream))
	}
	allocDir, err := allocDirFor(c.cfg.DataDir, allocID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", structs.ErrBadRequest, err)
	}
	paths, err := taskPathsFor(allocDir, task)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", structs.ErrBadRequest, err)
	}
	if _, err := os.Stat(allocDir); err != nil {
		return nil, fmt.Errorf("%w: allocation %s has no directory on this client", structs.ErrNotFound, structs.Quote(allocID))
	}
	if !c.hasTask(allocID, task) {
		if _, err := os.Stat(paths.dir); err != nil {
			return nil, fmt.Errorf("%w: allocation %s has no task %s on this client", structs.ErrNotFound, structs.Quote(allocID), structs.Quote(task))
		}
	}
	live := paths.stdout
	if stream == StreamStderr {
		live = paths.stderr
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	lr := &logReader{
		w: c.logs.acquire(live, driver.DefaultMaxLogFiles), dir: allocDir, follow: follow,
		emptyIfMissing: true, poll: followInterval, clock: c.clock,
		send: func(f *structs.StreamFrame) error {
			if len(f.Data) == 0 {
				return nil // a heartbeat or a truncation: nothing to read
			}
			_, err := pw.Write(f.Data)
			return err
		},
	}
	if follow {
		lr.ended = func() bool { return c.taskEnded(allocID, task) }
	}
	r := &taskLogReader{pr: pr, cancel: cancel, closed: make(chan struct{})}
	go func() {
		defer c.logs.release(lr.w)
		err := lr.run(ctx, structs.OriginStart, 0)
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		pw.CloseWithError(err) // nil: io.EOF
	}()
	return r, nil
}

// taskLogReader is the io.ReadCloser of TaskLogs: what a logReader sends
// through a pipe. Read and Close may be called from different goroutines:
// Close ends a Read waiting for output.
type taskLogReader struct {
	pr        *io.PipeReader
	cancel    context.CancelFunc
	closed    chan struct{}
	closeOnce sync.Once
}

// Read implements io.Reader.
func (l *taskLogReader) Read(p []byte) (int, error) {
	n, err := l.pr.Read(p)
	select {
	case <-l.closed:
		return n, fs.ErrClosed
	default:
	}
	return n, err
}

// Close implements io.Closer. It ends a Read that waits for output.
func (l *taskLogReader) Close() error {
	l.closeOnce.Do(func() {
		close(l.closed)
		l.cancel()
		l.pr.CloseWithError(fs.ErrClosed)
	})
	return nil
}

// hasTask reports whether the allocation runs here with the task.
func (c *Client) hasTask(allocID, task string) bool {
	r := c.runner(allocID)
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.states[task]
	return ok
}

// taskEnded reports whether the task has ended for good on this client:
// its state is dead, or its allocation no longer runs here.
func (c *Client) taskEnded(allocID, task string) bool {
	r := c.runner(allocID)
	if r == nil {
		return true
	}
	select {
	case <-r.done:
		return true
	default:
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.states[task]
	return st != nil && st.State == structs.TaskStateDead
}

func (c *Client) runner(allocID string) *allocRunner {
	c.allocs.mu.Lock()
	defer c.allocs.mu.Unlock()
	return c.allocs.runners[allocID]
}
