// Package bolt is the durable Store: one bbolt file holding a raft node's
// log, hard state and latest snapshot. Every Save is one bbolt transaction,
// so one raft Ready costs one fsync.
package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/store"
)

var (
	bucketLog  = []byte("log")
	bucketMeta = []byte("meta")

	keyHardState = []byte("hardstate")
	keySnapMeta  = []byte("snapshot-meta")
	keySnapData  = []byte("snapshot-data")
	keyLogBase   = []byte("log-base") // index and term of the entry before the first one kept
)

// Options tune the bbolt file.
type Options struct {
	// NoFreelistSync skips writing bbolt's freelist on every commit: less
	// disk I/O, slower open (raft_boltdb.no_freelist_sync).
	NoFreelistSync bool
	// Timeout bounds the wait for the file lock held by another process. Default 1s.
	Timeout time.Duration
}

// Store is a store.Store in a bbolt file. It is safe for concurrent use.
type Store struct {
	db *bbolt.DB

	mu       sync.RWMutex
	closed   bool
	hs       *raftpb.HardState
	snapMeta *raftpb.SnapshotMetadata
	baseIdx  uint64 // the log's dummy entry: entries start at baseIdx+1
	baseTerm uint64
	last     uint64
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store at path and loads what it holds.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        opts.Timeout,
		NoFreelistSync: opts.NoFreelistSync,
		FreelistType:   bbolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("bolt store: open %s: %w", path, err)
	}
	s := &Store{db: db, hs: &raftpb.HardState{}, snapMeta: &raftpb.SnapshotMetadata{ConfState: &raftpb.ConfState{}}}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) load() error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		logB, err := tx.CreateBucketIfNotExists(bucketLog)
		if err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyHardState); v != nil {
			if err := proto.Unmarshal(v, s.hs); err != nil {
				return fmt.Errorf("bolt store: decode hard state: %w", err)
			}
		}
		if v := meta.Get(keySnapMeta); v != nil {
			if err := proto.Unmarshal(v, s.snapMeta); err != nil {
				return fmt.Errorf("bolt store: decode snapshot metadata: %w", err)
			}
			if s.snapMeta.ConfState == nil {
				s.snapMeta.ConfState = &raftpb.ConfState{}
			}
		}
		if v := meta.Get(keyLogBase); len(v) == 16 {
			s.baseIdx = binary.BigEndian.Uint64(v[:8])
			s.baseTerm = binary.BigEndian.Uint64(v[8:])
		}
		s.last = s.baseIdx
		if k, _ := logB.Cursor().Last(); k != nil {
			s.last = binary.BigEndian.Uint64(k)
		}
		return nil
	})
}

func key(i uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	return b[:]
}

// InitialState implements raft.Storage.
func (s *Store) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, store.ErrClosed
	}
	return proto.Clone(s.hs).(*raftpb.HardState), proto.Clone(s.snapMeta.ConfState).(*raftpb.ConfState), nil
}

// FirstIndex implements raft.Storage.
func (s *Store) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	return s.baseIdx + 1, nil
}

// LastIndex implements raft.Storage.
func (s *Store) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	return s.last, nil
}

// Term implements raft.Storage.
func (s *Store) Term(i uint64) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.closed:
		return 0, store.ErrClosed
	case i < s.baseIdx:
		return 0, raft.ErrCompacted
	case i == s.baseIdx:
		return s.baseTerm, nil
	case i > s.last:
		return 0, raft.ErrUnavailable
	}
	var term uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		e, err := getEntry(tx.Bucket(bucketLog), i)
		term = e.GetTerm()
		return err
	})
	return term, err
}

func getEntry(b *bbolt.Bucket, i uint64) (*raftpb.Entry, error) {
	v := b.Get(key(i))
	if v == nil {
		return nil, fmt.Errorf("bolt store: entry %d missing: %w", i, raft.ErrUnavailable)
	}
	var e raftpb.Entry
	if err := proto.Unmarshal(v, &e); err != nil {
		return nil, fmt.Errorf("bolt store: decode entry %d: %w", i, err)
	}
	return &e, nil
}

// Entries implements raft.Storage: entries in [lo, hi), at most maxSize
// bytes but at least one.
func (s *Store) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.closed:
		return nil, store.ErrClosed
	case lo <= s.baseIdx:
		return nil, raft.ErrCompacted
	case hi > s.last+1 || lo > hi:
		return nil, fmt.Errorf("bolt store: entries [%d, %d) past last index %d: %w", lo, hi, s.last, raft.ErrUnavailable)
	case lo == hi:
		return nil, nil
	}
	var out []*raftpb.Entry
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		var size uint64
		for k, v := c.Seek(key(lo)); k != nil; k, v = c.Next() {
			i := binary.BigEndian.Uint64(k)
			if i >= hi {
				break
			}
			if i != lo+uint64(len(out)) {
				return fmt.Errorf("bolt store: entry %d missing: %w", lo+uint64(len(out)), raft.ErrUnavailable)
			}
			// Unmarshal copies out of the transaction's memory.
			var e raftpb.Entry
			if err := proto.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("bolt store: decode entry %d: %w", i, err)
			}
			size += uint64(len(v))
			if len(out) > 0 && size > maxSize {
				break
			}
			out = append(out, &e)
		}
		return nil
	})
	return out, err
}

// Snapshot implements raft.Storage.
func (s *Store) Snapshot() (*raftpb.Snapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	snap := &raftpb.Snapshot{Metadata: proto.Clone(s.snapMeta).(*raftpb.SnapshotMetadata)}
	if s.snapMeta.GetIndex() == 0 {
		return snap, nil
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		snap.Data = append([]byte(nil), tx.Bucket(bucketMeta).Get(keySnapData)...)
		return nil
	})
	return snap, err
}

// Save implements store.Store in one bbolt transaction.
func (s *Store) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	baseIdx, baseTerm, last, snapMeta := s.baseIdx, s.baseTerm, s.last, s.snapMeta
	err := s.db.Update(func(tx *bbolt.Tx) error {
		logB, meta := tx.Bucket(bucketLog), tx.Bucket(bucketMeta)
		if !raft.IsEmptySnap(snap) {
			md := snap.GetMetadata()
			if snapMeta.GetIndex() != 0 && snapMeta.GetIndex() >= md.GetIndex() {
				return raft.ErrSnapOutOfDate
			}
			if err := putSnapshot(meta, md, snap.GetData()); err != nil {
				return err
			}
			if err := deleteFrom(logB, 0); err != nil {
				return err
			}
			baseIdx, baseTerm, last = md.GetIndex(), md.GetTerm(), md.GetIndex()
			snapMeta = proto.Clone(md).(*raftpb.SnapshotMetadata)
			if err := meta.Put(keyLogBase, logBase(baseIdx, baseTerm)); err != nil {
				return err
			}
		}
		if len(ents) > 0 {
			// Entries already compacted away are skipped, as raft.MemoryStorage does.
			for len(ents) > 0 && ents[0].GetIndex() <= baseIdx {
				ents = ents[1:]
			}
		}
		if len(ents) > 0 {
			first := ents[0].GetIndex()
			if first > last+1 {
				return fmt.Errorf("bolt store: append at %d leaves a gap after %d: %w", first, last, raft.ErrUnavailable)
			}
			if first <= last {
				if err := deleteFrom(logB, first); err != nil {
					return err
				}
			}
			for _, e := range ents {
				data, err := proto.Marshal(e)
				if err != nil {
					return err
				}
				if err := logB.Put(key(e.GetIndex()), data); err != nil {
					return err
				}
			}
			last = ents[len(ents)-1].GetIndex()
		}
		if !raft.IsEmptyHardState(hs) {
			data, err := proto.Marshal(hs)
			if err != nil {
				return err
			}
			if err := meta.Put(keyHardState, data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.baseIdx, s.baseTerm, s.last, s.snapMeta = baseIdx, baseTerm, last, snapMeta
	if snapMeta.ConfState == nil {
		s.snapMeta.ConfState = &raftpb.ConfState{}
	}
	if !raft.IsEmptyHardState(hs) {
		s.hs = proto.Clone(hs).(*raftpb.HardState)
	}
	return nil
}

func logBase(idx, term uint64) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], idx)
	binary.BigEndian.PutUint64(b[8:], term)
	return b[:]
}

// putSnapshot writes the snapshot's data before its metadata.
func putSnapshot(meta *bbolt.Bucket, md *raftpb.SnapshotMetadata, data []byte) error {
	if err := meta.Put(keySnapData, append([]byte(nil), data...)); err != nil {
		return err
	}
	mdata, err := proto.Marshal(md)
	if err != nil {
		return err
	}
	return meta.Put(keySnapMeta, mdata)
}

// deleteFrom removes every entry at index >= from.
func deleteFrom(b *bbolt.Bucket, from uint64) error {
	c := b.Cursor()
	for k, _ := c.Seek(key(from)); k != nil; k, _ = c.Seek(key(from)) {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// CreateSnapshot implements store.Store.
func (s *Store) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	term, err := s.Term(index)
	if err != nil {
		return nil, fmt.Errorf("bolt store: snapshot at %d: %w", index, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	if index <= s.snapMeta.GetIndex() {
		return nil, raft.ErrSnapOutOfDate
	}
	if cs == nil {
		cs = s.snapMeta.GetConfState()
	}
	md := &raftpb.SnapshotMetadata{Index: proto.Uint64(index), Term: proto.Uint64(term), ConfState: proto.Clone(cs).(*raftpb.ConfState)}
	if err := s.db.Update(func(tx *bbolt.Tx) error {
		return putSnapshot(tx.Bucket(bucketMeta), md, data)
	}); err != nil {
		return nil, err
	}
	s.snapMeta = md
	return &raftpb.Snapshot{Metadata: proto.Clone(md).(*raftpb.SnapshotMetadata), Data: append([]byte(nil), data...)}, nil
}

// Compact implements store.Store: entries up to index are dropped and index
// becomes the log's base.
func (s *Store) Compact(index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return store.ErrClosed
	case index <= s.baseIdx:
		return raft.ErrCompacted
	case index > s.last:
		return fmt.Errorf("bolt store: compact at %d past last index %d: %w", index, s.last, raft.ErrUnavailable)
	}
	var term uint64
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLog)
		e, err := getEntry(b, index)
		if err != nil {
			return err
		}
		term = e.GetTerm()
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= index; k, _ = c.First() {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyLogBase, logBase(index, term))
	})
	if err != nil {
		return err
	}
	s.baseIdx, s.baseTerm = index, term
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil && !errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		return err
	}
	return nil
}
