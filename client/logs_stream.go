package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// Stream tuning, as Nomad's: frames of at most 64 KiB, a check for more
// every pollInterval while following, and an empty frame (a heartbeat)
// after heartbeatInterval without data.
const (
	frameSize         = 64 << 10
	pollInterval      = 200 * time.Millisecond
	heartbeatInterval = 5 * time.Second
	// maxLogCopies bounds how many rotated copies a reader looks for.
	maxLogCopies = 1000
)

// sendFunc delivers one frame of a stream.
type sendFunc func(*structs.StreamFrame) error

// streamLogs sends a task's stdout or stderr: its rotated copies, oldest
// first, then the live file, from the position req's origin and offset
// name; with follow, it goes on with what the task writes, across
// rotations, until ctx ends.
func (c *Client) streamLogs(ctx context.Context, req *structs.LogsRequest, send sendFunc) error {
	r, err := c.allocRunner(req.GetAllocId())
	if err != nil {
		return err
	}
	if req.GetLogType() != structs.LogTypeStdout && req.GetLogType() != structs.LogTypeStderr {
		return fmt.Errorf("%w: log type must be stdout or stderr, got %s", structs.ErrBadRequest, structs.Quote(req.GetLogType()))
	}
	origin, err := checkOrigin(req.GetOrigin())
	if err != nil {
		return err
	}
	task := findTask(r.current(), req.GetTask())
	if task == nil {
		return fmt.Errorf("%w: unknown task name %s", structs.ErrBadRequest, structs.Quote(req.GetTask()))
	}
	if r.dirErr != nil {
		return r.dirErr
	}
	paths, err := taskPathsFor(r.dir, task.Name)
	if err != nil {
		return err
	}
	live := paths.stdout
	if req.GetLogType() == structs.LogTypeStderr {
		live = paths.stderr
	}
	maxFiles := int(task.GetLogs().GetMaxFiles())
	if maxFiles < 1 {
		maxFiles = driver.DefaultMaxLogFiles
	}
	w := c.logs.acquire(live, maxFiles)
	defer c.logs.release(w)
	lr := &logReader{w: w, dir: r.dir, send: send, follow: req.GetFollow(), clock: c.clock}
	return lr.run(ctx, origin, req.GetOffset())
}

func checkOrigin(o string) (string, error) {
	switch o {
	case "":
		return structs.OriginStart, nil
	case structs.OriginStart, structs.OriginEnd:
		return o, nil
	}
	return "", fmt.Errorf("%w: origin must be start or end, got %s", structs.ErrBadRequest, structs.Quote(o))
}

func findTask(a *structs.Allocation, name string) *structs.Task {
	if tg := findGroup(a); tg != nil {
		for _, t := range tg.Tasks {
			if t.Name == name {
				return t
			}
		}
	}
	return nil
}

// logReader reads one live log file and its copies.
type logReader struct {
	w      *logWatch
	dir    string
	send   sendFunc
	follow bool
	buf    []byte
	idle   time.Time
	clock  clock.Clock
}

// segment is a file of the log, open, with the bytes to read from it.
type segment struct {
	f    *os.File
	size int64
}

func (lr *logReader) run(ctx context.Context, origin string, offset int64) error {
	lr.buf = make([]byte, frameSize)
	lr.idle = lr.clock.Now()
	copies, live, gen, err := lr.open(ctx)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range copies {
			s.f.Close()
		}
		live.Close()
	}()
	// Where to start: offset bytes from the start of the oldest file, or
	// from the end of the live one, across the files.
	liveSize := int64(0)
	if fi, err := live.Stat(); err == nil {
		liveSize = fi.Size()
	}
	segs := append(copies, segment{f: live, size: liveSize})
	idx, pos := startAt(segs, origin, offset)
	for ; idx < len(segs)-1; idx, pos = idx+1, 0 {
		if err := lr.sendRange(ctx, segs[idx].f, pos, segs[idx].size); err != nil {
			return err
		}
	}
	return lr.followLive(ctx, live, gen, pos)
}

// open pins the copies and the live file, as one consistent view: no
// rotation happens while they are opened.
func (lr *logReader) open(ctx context.Context) ([]segment, *os.File, *logGen, error) {
	for {
		lr.w.mu.RLock()
		gen := lr.w.gen
		live, err := os.Open(lr.w.path)
		var copies []segment
		if err == nil {
			for n := 1; n <= maxLogCopies; n++ {
				f, err := os.Open(lr.w.path + "." + strconv.Itoa(n))
				if err != nil {
					break
				}
				fi, err := f.Stat()
				if err != nil {
					f.Close()
					break
				}
				copies = append([]segment{{f: f, size: fi.Size()}}, copies...)
			}
		}
		lr.w.mu.RUnlock()
		if err == nil {
			return copies, live, gen, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil, err
		}
		if !lr.follow {
			return nil, nil, nil, fmt.Errorf("%w: no log file %s yet: the task has not started", structs.ErrNotFound, filepath.Base(lr.w.path))
		}
		if err := lr.pause(ctx, nil); err != nil {
			return nil, nil, nil, err
		}
	}
}

// startAt finds the segment and offset a read starts at.
func startAt(segs []segment, origin string, offset int64) (int, int64) {
	if origin == structs.OriginEnd {
		for i := len(segs) - 1; i >= 0; i-- {
			if offset <= segs[i].size {
				return i, segs[i].size - offset
			}
			offset -= segs[i].size
		}
		return 0, 0
	}
	for i := range segs {
		if offset <= segs[i].size || i == len(segs)-1 {
			return i, min(offset, segs[i].size)
		}
		offset -= segs[i].size
	}
	return len(segs) - 1, 0
}

// sendRange sends bytes [from, to) of f.
func (lr *logReader) sendRange(ctx context.Context, f *os.File, from, to int64) error {
	name := lr.rel(f.Name())
	for from < to {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := f.ReadAt(lr.buf[:min(int64(len(lr.buf)), to-from)], from)
		if n > 0 {
			from += int64(n)
			if err := lr.emit(&structs.StreamFrame{File: name, Offset: from, Data: lr.buf[:n]}); err != nil {
				return err
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
	return nil
}

// followLive reads the live file from pos in generation gen, going to
// the copy of a generation that ends under it, and (with follow) waits for
// more until ctx ends.
func (lr *logReader) followLive(ctx context.Context, live *os.File, gen *logGen, pos int64) error {
	name := lr.rel(live.Name())
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		var (
			n       int
			err     error
			rotated bool
		)
		lr.w.mu.RLock()
		select {
		case <-gen.done:
			rotated = true
		default:
			n, err = live.ReadAt(lr.buf, pos)
		}
		lr.w.mu.RUnlock()
		if rotated {
			// What was left of the ended generation is in its copy.
			if pos < gen.end {
				if f := lr.w.openCopy(gen); f != nil {
					err := lr.sendRange(ctx, f, pos, gen.end)
					f.Close()
					if err != nil {
						return err
					}
				}
			}
			gen, pos = gen.next, 0
			continue
		}
		if n > 0 {
			pos += int64(n)
			if err := lr.emit(&structs.StreamFrame{File: name, Offset: pos, Data: lr.buf[:n]}); err != nil {
				return err
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if !lr.follow {
			return nil
		}
		// Truncated by someone else than this client's rotator (another
		// client process, or a rotation keeping no copy).
		if fi, err := live.Stat(); err == nil && fi.Size() < pos {
			pos = 0
			if err := lr.emit(&structs.StreamFrame{File: name, FileEvent: structs.FileEventTruncated}); err != nil {
				return err
			}
			continue
		}
		if err := lr.pause(ctx, gen.done); err != nil {
			return nil
		}
	}
}

// pause waits a poll interval, for a rotation, or for ctx; it sends a
// heartbeat when nothing was sent for a while.
func (lr *logReader) pause(ctx context.Context, rotated <-chan struct{}) error {
	if clock.Since(lr.clock, lr.idle) >= heartbeatInterval {
		if err := lr.emit(&structs.StreamFrame{}); err != nil {
			return err
		}
	}
	t := lr.clock.NewTimer(pollInterval)
	defer t.Stop()
	select {
	case <-t.C():
	case <-rotated:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func (lr *logReader) emit(f *structs.StreamFrame) error {
	lr.idle = lr.clock.Now()
	return lr.send(f)
}

// rel names a file by its path under the allocation directory.
func (lr *logReader) rel(p string) string {
	if r, err := filepath.Rel(lr.dir, p); err == nil {
		return r
	}
	return filepath.Base(p)
}
