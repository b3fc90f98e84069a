package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/internal/safepath"
	"github.com/droverhq/drover/structs"
)

// The file system endpoints read an allocation's directory, and nothing
// else: every path is checked with safepath (no "..", no absolute name,
// no symbolic link leading out) and then opened through an os.Root of the
// allocation's directory, which refuses an escape even if the directory
// changes between the check and the open. A task's secrets/ cannot be
// read, as in Nomad.

// allocRunner returns the runner of an allocation this client holds.
func (c *Client) allocRunner(id string) (*allocRunner, error) {
	c.allocs.mu.Lock()
	r := c.allocs.runners[id]
	c.allocs.mu.Unlock()
	if r == nil {
		return nil, fmt.Errorf("%w: allocation %s is not on this client", structs.ErrNotFound, structs.Quote(id))
	}
	return r, nil
}

// allocRoot opens the allocation's directory as a root, and checks p (as
// the operator wrote it, rooted at the allocation's directory) inside it.
func (c *Client) allocRoot(allocID, p string) (*os.Root, string, error) {
	r, err := c.allocRunner(allocID)
	if err != nil {
		return nil, "", err
	}
	if r.dirErr != nil {
		return nil, "", r.dirErr
	}
	rel := strings.TrimLeft(filepath.ToSlash(p), "/")
	if rel == "" {
		rel = "."
	}
	if _, err := safepath.Join(r.dir, rel); err != nil {
		return nil, "", fmt.Errorf("%w: %w", structs.ErrBadRequest, err)
	}
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return nil, "", fsError(err, p)
	}
	return root, filepath.Clean(rel), nil
}

// fsError maps a file system error to what the caller is told.
func fsError(err error, p string) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: no such file or directory %s", structs.ErrNotFound, structs.Quote(p))
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %s: %v", structs.ErrPermissionDenied, structs.Quote(p), err)
	case strings.Contains(err.Error(), "escapes from parent"), strings.Contains(err.Error(), "path escapes"):
		return fmt.Errorf("%w: unsafe path %s: it leads outside the allocation directory", structs.ErrBadRequest, structs.Quote(p))
	}
	return err
}

func fileInfo(name string, fi fs.FileInfo) *structs.AllocFileInfo {
	return &structs.AllocFileInfo{
		Name: name, IsDir: fi.IsDir(), Size: fi.Size(), FileMode: fi.Mode().String(), ModTime: fi.ModTime().UnixNano(),
	}
}

// fsList lists a directory of the allocation, sorted by name.
func (c *Client) fsList(allocID, p string) ([]*structs.AllocFileInfo, error) {
	root, rel, err := c.allocRoot(allocID, p)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return nil, fsError(err, p)
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a directory", structs.ErrBadRequest, structs.Quote(p))
	}
	out := make([]*structs.AllocFileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, fileInfo(e.Name(), fi))
	}
	slices.SortFunc(out, func(a, b *structs.AllocFileInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// fsStat describes a file of the allocation; a regular file's content
// type is sniffed from its first bytes.
func (c *Client) fsStat(allocID, p string) (*structs.AllocFileInfo, error) {
	root, rel, err := c.allocRoot(allocID, p)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fi, err := root.Stat(rel)
	if err != nil {
		return nil, fsError(err, p)
	}
	info := fileInfo(filepath.Base(rel), fi)
	if fi.Mode().IsRegular() && !secretPath(rel) {
		if f, err := root.Open(rel); err == nil {
			head := make([]byte, 512)
			n, _ := io.ReadFull(f, head)
			f.Close()
			info.ContentType = http.DetectContentType(head[:n])
		}
	}
	return info, nil
}

// secretPath reports whether rel is inside a task's secrets directory.
func secretPath(rel string) bool {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	return len(parts) >= 2 && parts[0] != structs.ReservedTaskName && strings.EqualFold(parts[1], "secrets")
}

// openFile opens a regular file of the allocation for reading.
func (c *Client) openFile(allocID, p string) (*os.Root, *os.File, string, error) {
	root, rel, err := c.allocRoot(allocID, p)
	if err != nil {
		return nil, nil, "", err
	}
	if secretPath(rel) {
		root.Close()
		return nil, nil, "", fmt.Errorf("%w: reading a task's secrets is not allowed", structs.ErrPermissionDenied)
	}
	f, err := root.Open(rel)
	if err != nil {
		root.Close()
		return nil, nil, "", fsError(err, p)
	}
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		f.Close()
		root.Close()
		return nil, nil, "", fmt.Errorf("%w: %s is a directory", structs.ErrBadRequest, structs.Quote(p))
	}
	return root, f, rel, nil
}

// streamFile sends a file of the allocation from req's offset (counted
// from its origin), at most req's limit bytes; with follow, it goes on
// with what is appended until ctx ends or the file is deleted.
func (c *Client) streamFile(ctx context.Context, req *structs.FsStreamRequest, send sendFunc) error {
	origin, err := checkOrigin(req.GetOrigin())
	if err != nil {
		return err
	}
	if req.GetOffset() < 0 || req.GetLimit() < 0 {
		return fmt.Errorf("%w: offset and limit must not be negative", structs.ErrBadRequest)
	}
	root, f, rel, err := c.openFile(req.GetAllocId(), req.GetPath())
	if err != nil {
		return err
	}
	defer root.Close()
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	pos := req.GetOffset()
	if origin == structs.OriginEnd {
		pos = max(fi.Size()-pos, 0)
	}
	left := req.GetLimit()
	buf := make([]byte, frameSize)
	idle := c.clock.Now()
	for {
		if ctx.Err() != nil {
			return nil
		}
		chunk := buf
		if req.GetLimit() > 0 {
			if left == 0 {
				return nil
			}
			chunk = buf[:min(int64(len(buf)), left)]
		}
		n, err := f.ReadAt(chunk, pos)
		if n > 0 {
			pos += int64(n)
			left -= int64(n)
			idle = c.clock.Now()
			if err := send(&structs.StreamFrame{File: rel, Offset: pos, Data: chunk[:n]}); err != nil {
				return err
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if !req.GetFollow() {
			return nil
		}
		if _, err := root.Stat(rel); errors.Is(err, fs.ErrNotExist) {
			return send(&structs.StreamFrame{File: rel, Offset: pos, FileEvent: structs.FileEventDeleted})
		}
		if fi, err := f.Stat(); err == nil && fi.Size() < pos {
			pos = 0
			if err := send(&structs.StreamFrame{File: rel, FileEvent: structs.FileEventTruncated}); err != nil {
				return err
			}
			continue
		}
		if clock.Since(c.clock, idle) >= heartbeatInterval {
			idle = c.clock.Now()
			if err := send(&structs.StreamFrame{}); err != nil {
				return err
			}
		}
		t := c.clock.NewTimer(pollInterval)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}
