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
	"github.com/droverhq/drover/structs"
)

// A task's output is in the allocation's alloc/logs directory: the live
// file <task>.<stream>.0 that the task appends to, and the copies log
// rotation made of it, <task>.<stream>.0.1 the newest (see
// driver.LogRotator). One reader, logReader, serves both ways of reading
// them: the log stream of the RPC endpoint (frames, with heartbeats) and
// the io.Reader of Client.TaskLogs. It opens the files through an os.Root
// of the logs directory: the directory is shared with the allocation's
// tasks, and a symbolic link a task leaves there never leads the client
// outside it.

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

// logReader reads one live log file and its copies.
type logReader struct {
	w *logWatch
	// dir is the allocation directory frames name files under.
	dir  string
	send sendFunc
	// follow goes on with what the task writes, across rotations; ended,
	// when set, tells a follower that the task wrote all it will, and the
	// reader ends once it has read that.
	follow bool
	ended  func() bool
	// emptyIfMissing reads a live file not written yet as empty, instead
	// of failing with structs.ErrNotFound.
	emptyIfMissing bool
	// poll is how often a follower looks for more; default pollInterval.
	poll  time.Duration
	clock clock.Clock

	root *os.Root // the logs directory, once it exists
	buf  []byte
	idle time.Time
}

// segment is a file of the log, open, with the bytes to read from it.
type segment struct {
	f    *os.File
	size int64
}

func (lr *logReader) base() string { return filepath.Base(lr.w.path) }

func (lr *logReader) run(ctx context.Context, origin string, offset int64) error {
	if lr.poll <= 0 {
		lr.poll = pollInterval
	}
	lr.buf = make([]byte, frameSize)
	lr.idle = lr.clock.Now()
	defer func() {
		if lr.root != nil {
			lr.root.Close()
		}
	}()
	copies, live, gen, err := lr.open(ctx)
	if err != nil || live == nil {
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

// openRoot opens the logs directory if it exists (it is made when the
// allocation's tasks are set up).
func (lr *logReader) openRoot() error {
	if lr.root != nil {
		return nil
	}
	root, err := os.OpenRoot(filepath.Dir(lr.w.path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("task logs: %w", err)
	}
	lr.root = root
	return nil
}

// open pins the copies and the live file, as one consistent view: no
// rotation happens while they are opened. A live file that is not there
// yet is waited for when following; otherwise it is an empty log (nil
// live) or structs.ErrNotFound.
func (lr *logReader) open(ctx context.Context) ([]segment, *os.File, *logGen, error) {
	for {
		err := lr.openRoot()
		if err != nil {
			return nil, nil, nil, err
		}
		var (
			live   *os.File
			copies []segment
			gen    *logGen
		)
		err = fs.ErrNotExist
		if lr.root != nil {
			lr.w.mu.RLock()
			gen = lr.w.gen
			live, err = lr.root.Open(lr.base())
			if err == nil {
				for n := 1; n <= maxLogCopies; n++ {
					f, err := lr.root.Open(lr.base() + "." + strconv.Itoa(n))
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
		}
		if err == nil {
			return copies, live, gen, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil, fmt.Errorf("task logs: %w", err)
		}
		switch {
		case lr.follow && (lr.ended == nil || !lr.ended()):
		case lr.emptyIfMissing:
			return nil, nil, nil, nil
		default:
			return nil, nil, nil, fmt.Errorf("%w: no log file %s yet: the task has not started", structs.ErrNotFound, lr.base())
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
// more until ctx ends or the task has ended and all it wrote is read.
func (lr *logReader) followLive(ctx context.Context, live *os.File, gen *logGen, pos int64) error {
	name := lr.rel(live.Name())
	last := false // the task has ended: one more look, then stop
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
				if f := lr.w.openCopy(lr.root, gen); f != nil {
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
		if !lr.follow || last {
			return nil
		}
		// Truncated by someone else than this client's rotator (another
		// client process, or a rotation keeping no copy): what the copy
		// holds past pos is sent first, then the live file from its start.
		if fi, err := live.Stat(); err == nil && fi.Size() < pos {
			if err := lr.sendUnannouncedCopy(ctx, pos); err != nil {
				return err
			}
			pos = 0
			if err := lr.emit(&structs.StreamFrame{File: name, FileEvent: structs.FileEventTruncated}); err != nil {
				return err
			}
			continue
		}
		if lr.ended != nil && lr.ended() {
			last = true // a task that has ended wrote all it will: read once more
			continue
		}
		if err := lr.pause(ctx, gen.done); err != nil {
			return nil
		}
	}
}

// sendUnannouncedCopy sends what the newest copy holds past pos, after a
// rotation the reader was not told of.
func (lr *logReader) sendUnannouncedCopy(ctx context.Context, pos int64) error {
	f, err := lr.root.Open(lr.base() + ".1")
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= pos {
		return nil
	}
	return lr.sendRange(ctx, f, pos, fi.Size())
}

// pause waits a poll interval, for a rotation, or for ctx; it sends a
// heartbeat when nothing was sent for a while.
func (lr *logReader) pause(ctx context.Context, rotated <-chan struct{}) error {
	if clock.Since(lr.clock, lr.idle) >= heartbeatInterval {
		if err := lr.emit(&structs.StreamFrame{}); err != nil {
			return err
		}
	}
	t := lr.clock.NewTimer(lr.poll)
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

// rel names a file (opened in the logs directory) by its path under the
// allocation directory.
func (lr *logReader) rel(p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(lr.w.path), p)
	}
	if r, err := filepath.Rel(lr.dir, p); err == nil {
		return r
	}
	return filepath.Base(p)
}
