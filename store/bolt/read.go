package bolt

import (
	"bytes"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/store"
	"github.com/droverhq/drover/store/internal/logrange"
)

// InitialState implements raft.Storage. The hard state is empty, not nil,
// when none was saved; the conf state is the latest snapshot's.
func (s *Store) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, store.ErrClosed
	}
	hs := &raftpb.HardState{}
	if s.hs != nil {
		hs = proto.Clone(s.hs).(*raftpb.HardState)
	}
	cs := proto.Clone(s.snap.GetConfState()).(*raftpb.ConfState)
	return hs, raftpb.EnsureConfState(cs), nil
}

// Term implements raft.Storage, from memory.
func (s *Store) Term(i uint64) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	if err := logrange.CheckTerm(i, s.base, s.last); err != nil {
		return 0, err
	}
	return s.terms.term(i), nil
}

// LastIndex implements raft.Storage, from memory.
func (s *Store) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	return s.last, nil
}

// FirstIndex implements raft.Storage, from memory.
func (s *Store) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	return s.base + 1, nil
}

// Entries implements raft.Storage. It reads the file in one transaction
// and checks the request against the log as that transaction sees it.
func (s *Store) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	var (
		ents     []*raftpb.Entry
		rangeErr error
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		base, last, err := cursorBounds(c)
		if err != nil {
			return err
		}
		if rangeErr = logrange.CheckEntries(lo, hi, base, last); rangeErr != nil {
			return nil
		}
		ents = make([]*raftpb.Entry, 0, min(hi-lo, 256))
		var total uint64
		k, v := c.Seek(logKey(lo))
		for i := lo; i < hi; i++ {
			if k == nil {
				return fmt.Errorf("log entry %d is missing", i)
			}
			// The encoded size of an entry is the length of its value,
			// as proto.Size would measure it.
			size := uint64(len(v))
			if !logrange.Limit(len(ents), total, size, maxSize) {
				break
			}
			e, err := decodeEntry(k, v)
			if err != nil {
				return err
			}
			if e.GetIndex() != i {
				return fmt.Errorf("log entry %d is missing: found %d", i, e.GetIndex())
			}
			ents = append(ents, e)
			total += size
			k, v = c.Next()
		}
		return nil
	})
	if err != nil {
		return nil, viewErr("entries", err)
	}
	if rangeErr != nil {
		return nil, rangeErr
	}
	return ents, nil
}

// Snapshot implements raft.Storage: it reads the snapshot's data from the
// file.
func (s *Store) Snapshot() (*raftpb.Snapshot, error) {
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	snap := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{}}
	err := s.db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		v := meta.Get(keySnapMeta)
		if v == nil {
			return nil
		}
		if err := proto.Unmarshal(v, snap.Metadata); err != nil {
			return err
		}
		if data := meta.Get(keySnapData); len(data) > 0 {
			snap.Data = bytes.Clone(data)
		}
		return nil
	})
	if err != nil {
		return nil, viewErr("snapshot", err)
	}
	return raftpb.EnsureSnapshot(snap), nil
}

// cursorBounds returns the log's base and last index as c's transaction
// sees them.
func cursorBounds(c *bbolt.Cursor) (base, last uint64, err error) {
	k, _ := c.First()
	if k == nil {
		return 0, 0, errors.New("log bucket is empty")
	}
	if base, err = keyIndex(k); err != nil {
		return 0, 0, err
	}
	k, _ = c.Last()
	if last, err = keyIndex(k); err != nil {
		return 0, 0, err
	}
	return base, last, nil
}
