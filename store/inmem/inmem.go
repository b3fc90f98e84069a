// Package inmem is a Store kept in memory: fast, and gone with the process.
package inmem

import (
	"fmt"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/store"
)

// Store is an in-memory store.Store built on raft.MemoryStorage.
type Store struct {
	mu     sync.Mutex
	ms     *raft.MemoryStorage
	closed bool
}

var _ store.Store = (*Store)(nil)

// New returns an empty in-memory store.
func New() *Store { return &Store{ms: raft.NewMemoryStorage()} }

func (s *Store) check() error {
	if s.closed {
		return store.ErrClosed
	}
	return nil
}

// InitialState implements raft.Storage.
func (s *Store) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	return s.ms.InitialState()
}

// Entries implements raft.Storage.
func (s *Store) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.ms.Entries(lo, hi, maxSize)
}

// Term implements raft.Storage.
func (s *Store) Term(i uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return 0, err
	}
	return s.ms.Term(i)
}

// LastIndex implements raft.Storage.
func (s *Store) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return 0, err
	}
	return s.ms.LastIndex()
}

// FirstIndex implements raft.Storage.
func (s *Store) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return 0, err
	}
	return s.ms.FirstIndex()
}

// Snapshot implements raft.Storage.
func (s *Store) Snapshot() (*raftpb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.ms.Snapshot()
}

// Save implements store.Store.
func (s *Store) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	if !raft.IsEmptySnap(snap) {
		if err := s.ms.ApplySnapshot(proto.Clone(snap).(*raftpb.Snapshot)); err != nil {
			return err
		}
	}
	if len(ents) > 0 {
		last, _ := s.ms.LastIndex()
		if ents[0].GetIndex() > last+1 {
			return fmt.Errorf("%w: append at %d leaves a gap after %d", raft.ErrUnavailable, ents[0].GetIndex(), last)
		}
		cp := make([]*raftpb.Entry, len(ents))
		for i, e := range ents {
			cp[i] = proto.Clone(e).(*raftpb.Entry)
		}
		if err := s.ms.Append(cp); err != nil {
			return err
		}
	}
	if !raft.IsEmptyHardState(hs) {
		return s.ms.SetHardState(proto.Clone(hs).(*raftpb.HardState))
	}
	return nil
}

// CreateSnapshot implements store.Store.
func (s *Store) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	if last, _ := s.ms.LastIndex(); index > last {
		return nil, fmt.Errorf("%w: snapshot at %d is past the last index %d", raft.ErrUnavailable, index, last)
	}
	return s.ms.CreateSnapshot(index, cs, append([]byte(nil), data...))
}

// Compact implements store.Store.
func (s *Store) Compact(index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	if last, _ := s.ms.LastIndex(); index > last {
		return fmt.Errorf("%w: compact at %d is past the last index %d", raft.ErrUnavailable, index, last)
	}
	return s.ms.Compact(index)
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
