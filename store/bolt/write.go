package bolt

import (
	"bytes"
	"fmt"

	bbolt "go.etcd.io/bbolt"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/store"
	"github.com/droverhq/drover/store/internal/logrange"
)

// logFillPercent packs the log's pages fuller than bbolt's default: its keys
// are mostly appended in order.
const logFillPercent = 0.9

// Save implements store.Store in one bbolt transaction. Everything is
// checked and encoded before the transaction starts, and the in-memory
// state is updated only after it commits.
func (s *Store) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	base, last := s.base, s.last

	var snapMeta *raftpb.SnapshotMetadata
	var snapMetaVal, snapBase []byte
	if !raft.IsEmptySnap(snap) {
		snapMeta = raftpb.EnsureSnapshotMetadata(proto.Clone(snap.GetMetadata()).(*raftpb.SnapshotMetadata))
		if snapMeta.GetIndex() <= s.snap.GetIndex() {
			return store.ErrSnapOutOfDate
		}
		base, last = snapMeta.GetIndex(), snapMeta.GetIndex()
		var err error
		if snapMetaVal, err = proto.Marshal(snapMeta); err != nil {
			return fmt.Errorf("store/bolt: encode snapshot metadata: %w", err)
		}
		if snapBase, err = dummyEntry(snapMeta.GetIndex(), snapMeta.GetTerm()); err != nil {
			return fmt.Errorf("store/bolt: encode snapshot base: %w", err)
		}
	}

	ents, err := logrange.Append(base, last, ents)
	if err != nil {
		return err
	}
	vals := make([][]byte, len(ents))
	for i, e := range ents {
		if vals[i], err = proto.Marshal(e); err != nil {
			return fmt.Errorf("store/bolt: encode entry %d: %w", e.GetIndex(), err)
		}
	}
	newLast := last
	if len(ents) > 0 {
		newLast = ents[len(ents)-1].GetIndex()
	}

	var hsVal []byte
	if !raft.IsEmptyHardState(hs) {
		if hsVal, err = proto.Marshal(hs); err != nil {
			return fmt.Errorf("store/bolt: encode hard state: %w", err)
		}
	}
	if snapMeta == nil && len(ents) == 0 && hsVal == nil {
		return nil
	}

	err = s.db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if snapMeta != nil {
			if err := resetLog(tx, snapMeta.GetIndex(), snapBase); err != nil {
				return err
			}
			if err := putSnapshot(meta, snap.GetData(), snapMetaVal); err != nil {
				return err
			}
		}
		logb := tx.Bucket(bucketLog)
		logb.FillPercent = logFillPercent
		for i, e := range ents {
			if err := logb.Put(logKey(e.GetIndex()), vals[i]); err != nil {
				return err
			}
		}
		// An overwrite that ends before the old last index truncates the
		// rest of the old log.
		for i := newLast + 1; len(ents) > 0 && i <= last; i++ {
			if err := logb.Delete(logKey(i)); err != nil {
				return err
			}
		}
		if hsVal != nil {
			return meta.Put(keyHardState, hsVal)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store/bolt: save: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if snapMeta != nil {
		s.snap = snapMeta
		s.base, s.last = snapMeta.GetIndex(), snapMeta.GetIndex()
		s.terms.reset(snapMeta.GetIndex(), snapMeta.GetTerm())
	}
	if len(ents) > 0 {
		s.terms.truncate(ents[0].GetIndex())
		for _, e := range ents {
			s.terms.append(e.GetIndex(), e.GetTerm())
		}
		s.last = newLast
	}
	if hsVal != nil {
		s.hs = proto.Clone(hs).(*raftpb.HardState)
	}
	return nil
}

// CreateSnapshot implements store.Store.
func (s *Store) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	if err := logrange.CheckSnapshot(index, s.snap.GetIndex(), s.base, s.last); err != nil {
		return nil, err
	}
	if cs == nil {
		cs = s.snap.GetConfState()
	}
	meta := raftpb.EnsureSnapshotMetadata(&raftpb.SnapshotMetadata{
		Index:     proto.Uint64(index),
		Term:      proto.Uint64(s.terms.term(index)),
		ConfState: proto.Clone(cs).(*raftpb.ConfState),
	})
	metaVal, err := proto.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("store/bolt: encode snapshot metadata: %w", err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		return putSnapshot(tx.Bucket(bucketMeta), data, metaVal)
	})
	if err != nil {
		return nil, fmt.Errorf("store/bolt: create snapshot: %w", err)
	}
	s.mu.Lock()
	s.snap = meta
	s.mu.Unlock()
	return &raftpb.Snapshot{
		Data:     bytes.Clone(data),
		Metadata: proto.Clone(meta).(*raftpb.SnapshotMetadata),
	}, nil
}

// Compact implements store.Store.
func (s *Store) Compact(index uint64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	if err := logrange.CheckCompact(index, s.base, s.last); err != nil {
		return err
	}
	baseVal, err := dummyEntry(index, s.terms.term(index))
	if err != nil {
		return fmt.Errorf("store/bolt: encode compaction base: %w", err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		logb := tx.Bucket(bucketLog)
		for i := s.base; i < index; i++ {
			if err := logb.Delete(logKey(i)); err != nil {
				return err
			}
		}
		return logb.Put(logKey(index), baseVal)
	})
	if err != nil {
		return fmt.Errorf("store/bolt: compact: %w", err)
	}
	s.mu.Lock()
	s.base = index
	s.terms.compact(index)
	s.mu.Unlock()
	return nil
}

// resetLog replaces the log bucket with one holding only the base entry at
// index.
func resetLog(tx *bbolt.Tx, index uint64, baseVal []byte) error {
	if err := tx.DeleteBucket(bucketLog); err != nil {
		return err
	}
	logb, err := tx.CreateBucket(bucketLog)
	if err != nil {
		return err
	}
	return logb.Put(logKey(index), baseVal)
}

// putSnapshot writes a snapshot's data, then its metadata.
func putSnapshot(meta *bbolt.Bucket, data, metaVal []byte) error {
	if err := meta.Put(keySnapData, data); err != nil {
		return err
	}
	return meta.Put(keySnapMeta, metaVal)
}
