// Package bolt is the default store.Store: one bbolt file per raft node.
//
// Each Save is one bbolt transaction, so one fsync. The log's bounds, the
// terms of its entries, the hard state and the snapshot metadata are also
// kept in memory, so Term, FirstIndex, LastIndex and InitialState do not
// touch the file; Entries and Snapshot read it.
package bolt

import (
	"errors"
	"fmt"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/internal/fsperm"
	"github.com/droverhq/drover/store"
)

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is not set.
const DefaultTimeout = time.Second

// ErrLocked is returned by Open when another store, in this process or
// another, holds the file's lock for longer than Options.Timeout.
var ErrLocked = errors.New("store/bolt: database file is locked by another store")

// Options tunes Open.
type Options struct {
	// NoFreelistSync skips writing bbolt's freelist to disk on every
	// commit, which makes commits cheaper and Open slower (the freelist is
	// rebuilt by scanning the file). It also selects bbolt's hashmap
	// freelist, which suits it.
	NoFreelistSync bool
	// Timeout is how long Open waits for the file lock; DefaultTimeout when
	// zero or negative.
	Timeout time.Duration
}

// Store is a store.Store in one bbolt file. It is safe for concurrent use.
type Store struct {
	db   *bbolt.DB
	path string

	// wmu serialises writers (Save, CreateSnapshot, Compact, Close). The
	// fields below change only with both wmu and mu held, so a writer may
	// read them holding wmu alone; readers hold mu.
	wmu sync.Mutex
	mu  sync.RWMutex

	closed bool
	base   uint64 // index of the log's dummy first entry
	last   uint64 // last index in the log
	terms  terms
	hs     *raftpb.HardState        // nil until one is saved
	snap   *raftpb.SnapshotMetadata // never nil; index 0 when there is none
}

var _ store.Store = (*Store)(nil)

// FileMode is the permission of a store's file: it holds the whole raft
// log, so only its owner may read it.
const FileMode = 0o600

// Open opens the store in the file at path, creating it with FileMode if
// needed; an existing file whose permissions are looser is restricted to
// FileMode. A store reopened on a file sees exactly what was saved to it.
// Only one store can have a file open at a time: Open fails with ErrLocked
// after opts.Timeout.
func Open(path string, opts Options) (*Store, error) {
	if _, err := fsperm.File(path, FileMode); err != nil {
		return nil, fmt.Errorf("store/bolt: %w", err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	bo := &bbolt.Options{Timeout: timeout, NoFreelistSync: opts.NoFreelistSync}
	if opts.NoFreelistSync {
		bo.FreelistType = bbolt.FreelistMapType
	}
	db, err := bbolt.Open(path, FileMode, bo)
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s (waited %s): %w", ErrLocked, path, timeout, err)
		}
		return nil, fmt.Errorf("store/bolt: open %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store/bolt: load %s: %w", path, err)
	}
	return s, nil
}

// Path returns the path of the store's file.
func (s *Store) Path() string { return s.path }

// load prepares a new file or reads an existing one into the in-memory
// state.
func (s *Store) load() (err error) {
	defer func() {
		// bbolt panics on some kinds of corruption; a damaged file is an
		// error for the caller, not a crash.
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt database: %v", r)
		}
	}()
	return s.db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		logb, err := tx.CreateBucketIfNotExists(bucketLog)
		if err != nil {
			return err
		}
		if v := meta.Get(keyFormat); v == nil {
			if err := meta.Put(keyFormat, []byte{formatVersion}); err != nil {
				return err
			}
		} else if len(v) != 1 || v[0] != formatVersion {
			return fmt.Errorf("unknown format version %x", v)
		}
		if k, _ := logb.Cursor().First(); k == nil {
			v, err := dummyEntry(0, 0)
			if err != nil {
				return err
			}
			if err := logb.Put(logKey(0), v); err != nil {
				return err
			}
		}
		if err := s.loadMeta(meta); err != nil {
			return err
		}
		return s.loadLog(logb)
	})
}

func (s *Store) loadMeta(meta *bbolt.Bucket) error {
	if v := meta.Get(keyHardState); v != nil {
		hs := &raftpb.HardState{}
		if err := proto.Unmarshal(v, hs); err != nil {
			return fmt.Errorf("decode hard state: %w", err)
		}
		s.hs = hs
	}
	s.snap = &raftpb.SnapshotMetadata{}
	if v := meta.Get(keySnapMeta); v != nil {
		if err := proto.Unmarshal(v, s.snap); err != nil {
			return fmt.Errorf("decode snapshot metadata: %w", err)
		}
	}
	s.snap = raftpb.EnsureSnapshotMetadata(s.snap)
	return nil
}

func (s *Store) loadLog(logb *bbolt.Bucket) error {
	c := logb.Cursor()
	k, v := c.First()
	e, err := decodeEntry(k, v)
	if err != nil {
		return err
	}
	s.base, s.last = e.GetIndex(), e.GetIndex()
	s.terms.reset(e.GetIndex(), e.GetTerm())
	for k, v := c.Next(); k != nil; k, v = c.Next() {
		e, err := decodeEntry(k, v)
		if err != nil {
			return err
		}
		if e.GetIndex() != s.last+1 {
			return fmt.Errorf("log has a gap: entry %d follows %d", e.GetIndex(), s.last)
		}
		s.terms.append(e.GetIndex(), e.GetTerm())
		s.last = e.GetIndex()
	}
	return nil
}

// Close implements store.Store: it waits for running calls and closes the
// file.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store/bolt: close %s: %w", s.path, err)
	}
	return nil
}

// isClosed reports whether Close was called.
func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// viewErr maps an error from a read transaction: a closed database is
// ErrClosed, the rest is wrapped.
func viewErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return store.ErrClosed
	default:
		return fmt.Errorf("store/bolt: %s: %w", op, err)
	}
}
