package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/droverhq/drover/driver"
)

// cursorSaveInterval is how often the log cursor is written while lines
// are copied: at most this much is copied twice after a client is killed.
const cursorSaveInterval = time.Second

// cursorPath is the file in the task directory (not mounted in the
// container) that records the time of the last log line copied.
func cursorPath(taskDir string) string {
	if taskDir == "" {
		return ""
	}
	return filepath.Join(taskDir, ".docker-log-cursor")
}

// loadCursor reads a cursor file; the zero time when there is none.
func loadCursor(path string) time.Time {
	if path == "" {
		return time.Time{}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		return time.Time{}
	}
	return t
}

func saveCursor(path string, t time.Time) error {
	if path == "" || t.IsZero() {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(t.UTC().Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// copyLogs appends the container's stdout and stderr logged after since
// to the task's log files, following them until the container stops or
// ctx ends. When the engine goes away it tries again from the last line
// copied.
func (d *Driver) copyLogs(ctx context.Context, containerID string, st *handleState, since time.Time) {
	stdout, err := driver.OpenLog(st.Stdout)
	if err != nil {
		d.logger.Warn("task logs are not copied", "container", containerID, "error", err)
		return
	}
	defer stdout.Close()
	stderr, err := driver.OpenLog(st.Stderr)
	if err != nil {
		d.logger.Warn("task logs are not copied", "container", containerID, "error", err)
		return
	}
	defer stderr.Close()
	c := &logCopy{stdout: stdout, stderr: stderr, cursor: since, path: st.Cursor}
	defer c.save()
	for {
		err := d.followLogs(ctx, containerID, c)
		if ctx.Err() != nil {
			return
		}
		if err == nil || cerrdefs.IsNotFound(err) {
			if !d.stillRunning(ctx, containerID) {
				return
			}
		} else {
			d.logger.Debug("copying container logs, retrying", "container", containerID, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// stillRunning reports whether the container runs (or the engine cannot
// say), in which case a log stream that ended must be followed again.
func (d *Driver) stillRunning(ctx context.Context, id string) bool {
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	c, err := d.engine.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return false
	}
	return err != nil || c.Container.State != nil && c.Container.State.Running
}

// followLogs copies one stream of the container's logs, from the cursor
// on, until it ends.
func (d *Driver) followLogs(ctx context.Context, id string, c *logCopy) error {
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true}
	if !c.cursor.IsZero() {
		// Since is inclusive: start just after the last line copied.
		next := c.cursor.Add(time.Nanosecond)
		opts.Since = fmt.Sprintf("%d.%09d", next.Unix(), next.Nanosecond())
	}
	rc, err := d.engine.ContainerLogs(ctx, id, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	return c.copy(bufio.NewReader(rc))
}

// logCopy demultiplexes the engine's log stream into the task's files.
type logCopy struct {
	stdout, stderr io.Writer
	// cursor is the time of the last line copied; path where it is saved.
	cursor time.Time
	path   string
	saved  time.Time
}

// copy reads frames (an 8 byte header: stream, 0, 0, 0, size as big
// endian uint32; then the payload, "<RFC 3339 time> <line>") until the
// stream ends.
func (c *logCopy) copy(r io.Reader) error {
	var hdr [8]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		size := binary.BigEndian.Uint32(hdr[4:])
		if int(size) > cap(buf) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		line := buf
		if ts, rest, ok := bytes.Cut(buf, []byte{' '}); ok {
			if t, err := time.Parse(time.RFC3339Nano, string(ts)); err == nil {
				line = rest
				c.cursor = t
			}
		}
		w := c.stdout
		if hdr[0] == 2 || hdr[0] == 3 {
			w = c.stderr
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
		if time.Since(c.saved) >= cursorSaveInterval {
			c.save()
		}
	}
}

func (c *logCopy) save() {
	if err := saveCursor(c.path, c.cursor); err == nil {
		c.saved = time.Now()
	}
}
