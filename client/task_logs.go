package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/structs"
)

// A task's output is in the allocation's alloc/logs directory: the live
// file <task>.<stream>.0 that the task appends to, and the copies log
// rotation made of it, <task>.<stream>.0.1 the newest (see
// driver.LogRotator). The readers here open them through an os.Root of
// that directory: the directory is shared with the allocation's tasks, and
// a symbolic link a task leaves there never leads the client outside it.

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
// reaches it. A rotation while the reader runs may repeat or skip some of
// what it moved. It fails with an error matching structs.ErrNotFound when
// the allocation has no directory on this client or the task is not one
// of its own; a task that has not written yet has an empty log. The
// caller closes the reader.
func (c *Client) TaskLogs(allocID, task, stream string) (io.ReadCloser, error) {
	l, err := c.openLogs(allocID, task, stream)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// FollowTaskLogs is TaskLogs that does not stop at the end of the live
// file: it waits for the task to write more (checking every 100ms) and
// follows the live file across its rotations. It returns io.EOF once the
// task has ended for good (its state is dead, or its allocation no longer
// runs here) and everything it wrote has been read, ctx's error once ctx
// is done, and fs.ErrClosed once the reader is closed. Output written
// between two checks that is rotated twice before the second one is
// missed.
func (c *Client) FollowTaskLogs(ctx context.Context, allocID, task, stream string) (io.ReadCloser, error) {
	l, err := c.openLogs(allocID, task, stream)
	if err != nil {
		return nil, err
	}
	l.ctx, l.cancel = context.WithCancel(ctx)
	l.follow = func() bool { return !c.taskEnded(allocID, task) }
	return l, nil
}

// openLogs checks the names, opens the logs directory and the rotated
// copies present now.
func (c *Client) openLogs(allocID, task, stream string) (*taskLogReader, error) {
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
	l := newLogReader(filepath.Dir(live), filepath.Base(live))
	l.clock = c.clock
	if err := l.openRoot(); err != nil {
		return nil, err
	}
	if l.root == nil {
		return l, nil // nothing written yet
	}
	copies, err := rotatedCopies(l.root, l.live)
	if err != nil {
		l.Close()
		return nil, err
	}
	for _, name := range copies {
		f, err := l.root.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by a rotation meanwhile
		}
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("task logs: %w", err)
		}
		l.queue = append(l.queue, logPart{r: f, f: f})
	}
	return l, nil
}

// rotatedCopies lists the copies of the live file, oldest first.
func rotatedCopies(root *os.Root, live string) ([]string, error) {
	dir, err := root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("task logs: %w", err)
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("task logs: %w", err)
	}
	type copyName struct {
		name string
		n    int
	}
	var copies []copyName
	for _, name := range names {
		suffix, ok := strings.CutPrefix(name, live+".")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(suffix); err == nil && n > 0 && strconv.Itoa(n) == suffix {
			copies = append(copies, copyName{name, n})
		}
	}
	slices.SortFunc(copies, func(a, b copyName) int { return b.n - a.n })
	out := make([]string, len(copies))
	for i, c := range copies {
		out[i] = c.name
	}
	return out, nil
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

// taskLogReader reads the rotated copies it opened, then the live file,
// opened when the copies are read. Read and Close may be called from
// different goroutines: Close ends a Read waiting for output.
type taskLogReader struct {
	// Following: ctx ends the reader; follow reports whether the task may
	// still write. ctx is nil when not following.
	ctx       context.Context
	cancel    context.CancelFunc
	follow    func() bool
	closed    chan struct{}
	closeOnce sync.Once

	dir   string // the logs directory
	live  string // the live file's name in it
	clock clock.Clock

	mu    sync.Mutex // guards what follows; not held while waiting
	root  *os.Root   // dir, once it exists
	queue []logPart  // read before the live file, in order
	cur   *os.File   // the live file once reached
	off   int64      // how far the live file was read
}

// logPart is a file, or the part of one, still to be read.
type logPart struct {
	r io.Reader
	f *os.File
}

func newLogReader(dir, live string) *taskLogReader {
	return &taskLogReader{dir: dir, live: live, closed: make(chan struct{}), clock: clock.Real()}
}

// openRoot opens the logs directory if it exists (it is made when the
// allocation's tasks are set up).
func (l *taskLogReader) openRoot() error {
	root, err := os.OpenRoot(l.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("task logs: %w", err)
	}
	l.root = root
	return nil
}

func (l *taskLogReader) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// Read implements io.Reader.
func (l *taskLogReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := l.readOnce(p)
		if n > 0 || err != nil {
			return n, err
		}
		if l.ctx == nil {
			return 0, io.EOF
		}
		// Past the end: a task that has ended wrote everything it will, so
		// one more read after seeing it ended finds the rest.
		if !l.follow() {
			if n, err := l.readOnce(p); n > 0 || err != nil {
				return n, err
			}
			return 0, io.EOF
		}
		t := l.clock.NewTimer(followInterval)
		select {
		case <-l.ctx.Done():
			t.Stop()
			if l.isClosed() {
				return 0, fs.ErrClosed
			}
			return 0, l.ctx.Err()
		case <-t.C():
		}
	}
}

// readOnce reads what is there now: (0, nil) at the end of it.
func (l *taskLogReader) readOnce(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.isClosed() {
			return 0, fs.ErrClosed
		}
		for len(l.queue) > 0 {
			n, err := l.queue[0].r.Read(p)
			if n > 0 {
				return n, nil
			}
			if err != nil && err != io.EOF {
				return 0, fmt.Errorf("task logs: %w", err)
			}
			l.queue[0].f.Close()
			l.queue = l.queue[1:]
		}
		n, err := l.readLive(p)
		if n > 0 || err != nil || len(l.queue) == 0 {
			return n, err
		}
		// A rotation queued the rest of the newest copy: read it first.
	}
}

// readLive reads the live file from where the last read stopped, opening
// it on first use. When following, a file shorter than what was read has
// been rotated: the rest of what was written before the rotation is read
// from the newest copy, then the live file again from its start.
func (l *taskLogReader) readLive(p []byte) (int, error) {
	if l.root == nil {
		if err := l.openRoot(); err != nil || l.root == nil {
			return 0, err
		}
	}
	if l.cur == nil {
		f, err := l.root.Open(l.live)
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil // not written yet
		}
		if err != nil {
			return 0, fmt.Errorf("task logs: %w", err)
		}
		l.cur = f
	}
	n, err := l.cur.ReadAt(p, l.off)
	l.off += int64(n)
	if n > 0 {
		return n, nil
	}
	if err != nil && err != io.EOF {
		return 0, fmt.Errorf("task logs: %w", err)
	}
	if l.ctx == nil {
		return 0, nil
	}
	fi, err := l.cur.Stat()
	if err != nil {
		return 0, fmt.Errorf("task logs: %w", err)
	}
	if fi.Size() >= l.off {
		return 0, nil
	}
	if f, err := l.root.Open(l.live + ".1"); err == nil {
		if cfi, err := f.Stat(); err == nil && cfi.Size() > l.off {
			l.queue = append(l.queue, logPart{r: io.NewSectionReader(f, l.off, cfi.Size()-l.off), f: f})
		} else {
			f.Close()
		}
	}
	l.off = 0
	return 0, nil
}

// Close implements io.Closer. It ends a Read that waits for output.
func (l *taskLogReader) Close() error {
	l.closeOnce.Do(func() {
		close(l.closed)
		if l.cancel != nil {
			l.cancel()
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, part := range l.queue {
			part.f.Close()
		}
		l.queue = nil
		if l.cur != nil {
			l.cur.Close()
		}
		if l.root != nil {
			l.root.Close()
		}
	})
	return nil
}
