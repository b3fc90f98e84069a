package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// Log rotation defaults, Nomad's: ten files of 10 MB per stream.
const (
	DefaultMaxLogFiles      = 10
	DefaultMaxLogFileSizeMB = 10
	// DefaultLogCheckInterval is how often a LogRotator checks the file's size.
	DefaultLogCheckInterval = time.Second
)

// LogRotator keeps a task's log file under a size limit by copy and
// truncate: when the live file (path) is larger than MaxBytes, its content
// is copied to path.1 (older copies move to path.2, path.3, ... and the
// oldest beyond MaxFiles is removed) and the live file is truncated.
//
// Copy-and-truncate lets the task keep the descriptor it was started with
// (opened with O_APPEND, so its writes land at the new end), across
// rotations and across restarts of the client, which never sits between
// the task and its log. The price: bytes written between the last copy and
// the truncation are lost, a window of microseconds.
type LogRotator struct {
	// Path is the live file.
	Path string
	// MaxFiles counts the live file and its copies; at least 1.
	MaxFiles int
	// MaxBytes is the size above which the live file is rotated.
	MaxBytes int64
	// Rotation, when set, brackets each rotation, for readers that follow
	// the live file across it: it is called once the copy is in place and
	// before the live file is truncated, with the copy's path ("" when
	// MaxFiles is 1, which keeps no copy) and the bytes it holds; the
	// function it returns is called once the live file is truncated.
	Rotation func(copyPath string, copied int64) (done func())
}

// NewLogRotator returns a rotator for path; maxFiles < 1 and maxBytes < 1
// take the defaults.
func NewLogRotator(path string, maxFiles int, maxBytes int64) *LogRotator {
	if maxFiles < 1 {
		maxFiles = DefaultMaxLogFiles
	}
	if maxBytes < 1 {
		maxBytes = DefaultMaxLogFileSizeMB << 20
	}
	return &LogRotator{Path: path, MaxFiles: maxFiles, MaxBytes: maxBytes}
}

// rotated names the n-th copy of the live file; n = 1 is the newest.
func (r *LogRotator) rotated(n int) string { return r.Path + "." + strconv.Itoa(n) }

// Rotate rotates the live file if it is over the limit and reports whether
// it did. A missing live file is not an error: the task has not written yet.
func (r *LogRotator) Rotate() (bool, error) {
	fi, err := os.Stat(r.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("driver: log rotation: %w", err)
	}
	if fi.Size() <= r.MaxBytes {
		return false, nil
	}
	copyPath, copied := "", fi.Size()
	if r.MaxFiles > 1 {
		if err := r.shift(); err != nil {
			return false, err
		}
		copyPath = r.rotated(1)
		if copied, err = r.copyLive(copyPath); err != nil {
			return false, err
		}
	}
	if r.Rotation != nil {
		done := r.Rotation(copyPath, copied)
		defer done()
	}
	if err := os.Truncate(r.Path, 0); err != nil {
		return false, fmt.Errorf("driver: log rotation: %w", err)
	}
	return true, nil
}

// shift moves every copy one place older, dropping the oldest.
func (r *LogRotator) shift() error {
	if err := os.Remove(r.rotated(r.MaxFiles - 1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("driver: log rotation: %w", err)
	}
	for n := r.MaxFiles - 2; n >= 1; n-- {
		if err := os.Rename(r.rotated(n), r.rotated(n+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("driver: log rotation: %w", err)
		}
	}
	return nil
}

// copyLive copies the live file to dst, catching up with what the task
// appends meanwhile until a read finds nothing new, and returns the bytes
// copied.
func (r *LogRotator) copyLive(dst string) (int64, error) {
	src, err := os.Open(r.Path)
	if err != nil {
		return 0, fmt.Errorf("driver: log rotation: %w", err)
	}
	defer src.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return 0, fmt.Errorf("driver: log rotation: %w", err)
	}
	var total int64
	for {
		n, err := io.Copy(out, src)
		total += n
		if err != nil {
			out.Close()
			os.Remove(tmp)
			return 0, fmt.Errorf("driver: log rotation: %w", err)
		}
		if n == 0 {
			break
		}
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("driver: log rotation: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return 0, fmt.Errorf("driver: log rotation: %w", err)
	}
	return total, nil
}

// Run rotates every interval (0 means DefaultLogCheckInterval) until ctx
// is done, reporting errors to onError (which may be nil).
func (r *LogRotator) Run(ctx context.Context, interval time.Duration, onError func(error)) {
	if interval <= 0 {
		interval = DefaultLogCheckInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := r.Rotate(); err != nil && onError != nil {
				onError(err)
			}
		}
	}
}
