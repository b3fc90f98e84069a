package raft

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/internal/fsperm"
	"github.com/droverhq/drover/server/statestream"
	"github.com/droverhq/drover/structs"
)

// SnapshotStore keeps the raft snapshots of one server: each one a state
// stream (package statestream) at one index. The data a raft snapshot
// carries in the log store (raftpb.Snapshot.Data) is whatever Commit
// returned: a small reference to a file for DirSnapshots, the stream
// itself for MemSnapshots. Either way Open turns it back into the stream.
type SnapshotStore interface {
	// Create starts a raft snapshot at index and term.
	Create(index, term uint64) (SnapshotSink, error)
	// Open returns the stream of the raft snapshot that data describes.
	Open(data []byte) (io.ReadCloser, error)
	// Prune removes the raft snapshots older than the one data describes;
	// newer ones (received from the leader, not yet applied) stay.
	Prune(keep []byte)
}

// SnapshotSink receives a raft snapshot's stream; Commit makes it durable.
type SnapshotSink interface {
	io.Writer
	// Commit makes the snapshot durable and returns the data to record in
	// the raft snapshot.
	Commit() ([]byte, error)
	// Abort discards a snapshot that will not be committed.
	Abort()
}

// DirSnapshots keeps each raft snapshot as a file of a directory: written to a
// temporary name, synced, then renamed, so a crash leaves either the whole
// file or none.
type DirSnapshots struct {
	dir string
}

const snapshotSuffix = ".snap"

// Permissions of the snapshot directory and files: they hold the cluster's
// whole state, secrets of nodes included, so they are the server's alone.
const (
	snapshotDirMode  fs.FileMode = 0o700
	snapshotFileMode fs.FileMode = 0o600
)

// NewDirSnapshots keeps snapshots in dir, created 0700; a dir or snapshot
// files with looser permissions are tightened (the server logs that when
// it prepares its data dir).
func NewDirSnapshots(dir string) (*DirSnapshots, error) {
	if _, err := fsperm.Dir(dir, snapshotDirMode); err != nil {
		return nil, fmt.Errorf("create snapshot dir: %w", err)
	}
	// Leftovers of snapshots that were being written when the server stopped.
	tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	for _, f := range tmp {
		_ = os.Remove(f)
	}
	snaps, _ := filepath.Glob(filepath.Join(dir, "*"+snapshotSuffix))
	for _, f := range snaps {
		if _, err := fsperm.File(f, snapshotFileMode); err != nil {
			return nil, fmt.Errorf("snapshot dir: %w", err)
		}
	}
	return &DirSnapshots{dir: dir}, nil
}

func snapshotName(index, term uint64) string {
	return fmt.Sprintf("%016x-%016x%s", term, index, snapshotSuffix)
}

// Create starts a raft snapshot file under a temporary name.
func (d *DirSnapshots) Create(index, term uint64) (SnapshotSink, error) {
	f, err := os.CreateTemp(d.dir, "*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create snapshot file: %w", err)
	}
	return &fileSink{dir: d.dir, f: f, w: bufio.NewWriterSize(f, 256<<10), index: index, term: term}, nil
}

// Open opens the file that data, a reference Commit returned, names.
func (d *DirSnapshots) Open(data []byte) (io.ReadCloser, error) {
	ref, err := decodeSnapshotRef(data)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(d.dir, ref.Name))
	if err != nil {
		return nil, fmt.Errorf("open snapshot %s: %w", ref.Name, err)
	}
	return f, nil
}

// Prune removes the files of raft snapshots older than the one keep
// refers to.
func (d *DirSnapshots) Prune(keep []byte) {
	ref, err := decodeSnapshotRef(keep)
	if err != nil {
		return
	}
	files, _ := filepath.Glob(filepath.Join(d.dir, "*"+snapshotSuffix))
	for _, f := range files {
		var term, index uint64
		if _, err := fmt.Sscanf(filepath.Base(f), "%016x-%016x"+snapshotSuffix, &term, &index); err != nil {
			continue
		}
		if index < ref.Index || (index == ref.Index && filepath.Base(f) != ref.Name) {
			_ = os.Remove(f)
		}
	}
}

func decodeSnapshotRef(data []byte) (*structs.SnapshotRef, error) {
	ref := &structs.SnapshotRef{}
	if err := proto.Unmarshal(data, ref); err != nil {
		return nil, fmt.Errorf("%w: snapshot reference: %w", statestream.ErrBadStream, err)
	}
	if ref.Name == "" || ref.Name != filepath.Base(ref.Name) || !strings.HasSuffix(ref.Name, snapshotSuffix) {
		return nil, fmt.Errorf("%w: snapshot reference names %q", statestream.ErrBadStream, ref.Name)
	}
	return ref, nil
}

type fileSink struct {
	dir         string
	f           *os.File
	w           *bufio.Writer
	index, term uint64
	size        int64
}

func (s *fileSink) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.size += int64(n)
	return n, err
}

func (s *fileSink) Commit() ([]byte, error) {
	name := snapshotName(s.index, s.term)
	err := errors.Join(s.w.Flush(), s.f.Sync())
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(s.f.Name(), filepath.Join(s.dir, name))
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		_ = os.Remove(s.f.Name())
		return nil, fmt.Errorf("commit snapshot %s: %w", name, err)
	}
	return proto.Marshal(&structs.SnapshotRef{Name: name, Index: s.index, Term: s.term, Size: s.size})
}

func (s *fileSink) Abort() {
	_ = s.f.Close()
	_ = os.Remove(s.f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// MemSnapshots keeps each raft snapshot's stream in the raft snapshot's
// data itself, for servers without a data directory (an in-memory log
// store).
type MemSnapshots struct{}

// Create starts a raft snapshot held in memory.
func (MemSnapshots) Create(uint64, uint64) (SnapshotSink, error) { return &memSink{}, nil }

// Open reads the stream that data is.
func (MemSnapshots) Open(data []byte) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Prune does nothing: each raft snapshot lives in its own data.
func (MemSnapshots) Prune([]byte) {}

type memSink struct{ bytes.Buffer }

func (m *memSink) Commit() ([]byte, error) { return m.Bytes(), nil }
func (m *memSink) Abort()                  { m.Reset() }
