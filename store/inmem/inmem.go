// Package inmem is a store.Store kept in memory, for tests and for nodes
// that need no durability. It is built on raft.MemoryStorage.
package inmem

import (
	"bytes"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/store"
	"github.com/droverhq/drover/store/internal/logrange"
)

// Store is an in-memory store.Store, safe for concurrent use. It copies what
// it is given, so callers may reuse their entries, hard state and snapshot
// data after a call returns.
type Store struct {
	// mu guards every call: raft.MemoryStorage does not lock in all of its
	// methods, and the checks done here must see the state they check.
	mu        sync.Mutex
	ms        *raft.MemoryStorage
	snapIndex uint64
	closed    bool
	meta      map[string][]byte
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{ms: raft.NewMemoryStorage()}
}

// InitialState implements raft.Storage. The hard state is empty, not nil,
// when none was saved.
func (s *Store) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, store.ErrClosed
	}
	hs, cs, err := s.ms.InitialState()
	if err != nil {
		return nil, nil, err
	}
	out := &raftpb.HardState{}
	if hs != nil {
		out = proto.Clone(hs).(*raftpb.HardState)
	}
	return out, raftpb.EnsureConfState(proto.Clone(cs).(*raftpb.ConfState)), nil
}

// Entries implements raft.Storage.
func (s *Store) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	base, last := s.bounds()
	if err := logrange.CheckEntries(lo, hi, base, last); err != nil {
		return nil, err
	}
	return s.ms.Entries(lo, hi, maxSize)
}

// Term implements raft.Storage.
func (s *Store) Term(i uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	return s.ms.Term(i)
}

// LastIndex implements raft.Storage.
func (s *Store) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	return s.ms.LastIndex()
}

// FirstIndex implements raft.Storage.
func (s *Store) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	return s.ms.FirstIndex()
}

// Snapshot implements raft.Storage.
func (s *Store) Snapshot() (*raftpb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	return s.ms.Snapshot()
}

// Save implements store.Store.
func (s *Store) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	base, last := s.bounds()
	withSnap := !raft.IsEmptySnap(snap)
	if withSnap {
		i := snap.GetMetadata().GetIndex()
		if i <= s.snapIndex {
			return store.ErrSnapOutOfDate
		}
		base, last = i, i
	}
	ents, err := logrange.Append(base, last, ents)
	if err != nil {
		return err
	}
	// Everything is checked: from here on nothing fails, so the batch is
	// saved whole.
	if withSnap {
		if err := s.ms.ApplySnapshot(proto.Clone(snap).(*raftpb.Snapshot)); err != nil {
			return err
		}
		s.snapIndex = snap.GetMetadata().GetIndex()
	}
	if len(ents) > 0 {
		copied := make([]*raftpb.Entry, len(ents))
		for i, e := range ents {
			copied[i] = logrange.CloneEntry(e)
		}
		if err := s.ms.Append(copied); err != nil {
			return err
		}
	}
	if !raft.IsEmptyHardState(hs) {
		if err := s.ms.SetHardState(proto.Clone(hs).(*raftpb.HardState)); err != nil {
			return err
		}
	}
	return nil
}

// CreateSnapshot implements store.Store.
func (s *Store) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	base, last := s.bounds()
	if err := logrange.CheckSnapshot(index, s.snapIndex, base, last); err != nil {
		return nil, err
	}
	snap, err := s.ms.CreateSnapshot(index, cs, bytes.Clone(data))
	if err != nil {
		return nil, err
	}
	s.snapIndex = index
	return snap, nil
}

// Compact implements store.Store.
func (s *Store) Compact(index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	base, last := s.bounds()
	if err := logrange.CheckCompact(index, base, last); err != nil {
		return err
	}
	return s.ms.Compact(index)
}

// Close implements store.Store. It drops the store's contents.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.ms = nil
	return nil
}

// bounds returns the log's base and last index. s.mu must be held.
func (s *Store) bounds() (base, last uint64) {
	// MemoryStorage never fails these.
	first, _ := s.ms.FirstIndex()
	last, _ = s.ms.LastIndex()
	return first - 1, last
}
