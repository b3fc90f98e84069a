// Package storetest is a conformance suite for store.Store implementations:
// every implementation must behave like raft.MemoryStorage, plus the
// store's own Save, Close and concurrency contract.
package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/store"
)

// Run runs the suite. open must return a new, empty store for each call and
// arrange for it to be closed when t ends (Close may then be called twice:
// some subtests close the store themselves). The suite starts goroutines and
// waits for them before returning.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Empty", func(t *testing.T) { testEmpty(t, open(t)) })
	t.Run("SaveAndRead", func(t *testing.T) { testSaveAndRead(t, open(t)) })
	t.Run("ConflictTruncation", func(t *testing.T) { testConflict(t, open(t)) })
	t.Run("EntriesMaxSize", func(t *testing.T) { testMaxSize(t, open(t)) })
	t.Run("Bounds", func(t *testing.T) { testBounds(t, open(t)) })
	t.Run("SaveSnapshot", func(t *testing.T) { testSaveSnapshot(t, open(t)) })
	t.Run("CreateSnapshotAndCompact", func(t *testing.T) { testCreateSnapshot(t, open(t)) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, open(t)) })
	t.Run("CopiesData", func(t *testing.T) { testCopies(t, open(t)) })
	t.Run("Close", func(t *testing.T) { testClose(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open(t)) })
	t.Run("MatchesMemoryStorage", func(t *testing.T) { testModel(t, open) })
	t.Run("Metadata", func(t *testing.T) { testMetadata(t, open(t)) })
}

// testMetadata checks store.Metadata, for stores that implement it.
func testMetadata(t *testing.T, s store.Store) {
	md, ok := s.(store.Metadata)
	if !ok {
		t.Skip("the store does not implement store.Metadata")
	}
	v, err := md.Meta("raft-id")
	require.NoError(t, err)
	require.Nil(t, v, "an unset key has no value")
	require.NoError(t, md.SetMeta("raft-id", []byte{1, 2, 3}))
	require.NoError(t, md.SetMeta("other", []byte("x")))
	require.NoError(t, md.SetMeta("raft-id", []byte{4}))
	v, err = md.Meta("raft-id")
	require.NoError(t, err)
	require.Equal(t, []byte{4}, v, "the last value saved wins")
	v[0] = 9 // the caller owns what it gets
	v, err = md.Meta("raft-id")
	require.NoError(t, err)
	require.Equal(t, []byte{4}, v)
	// Metadata does not disturb the log.
	requireBounds(t, s, 1, 0)
	require.NoError(t, s.Close())
	_, err = md.Meta("raft-id")
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorIs(t, md.SetMeta("raft-id", nil), store.ErrClosed)
}

func testEmpty(t *testing.T, s store.Store) {
	requireBounds(t, s, 1, 0)
	hs, cs, err := s.InitialState()
	require.NoError(t, err)
	require.True(t, hardStateEqual(&raftpb.HardState{}, hs), "hard state %v", hs)
	require.NotNil(t, cs)
	require.True(t, confStateEqual(&raftpb.ConfState{}, cs), "conf state %v", cs)
	snap, err := s.Snapshot()
	require.NoError(t, err)
	require.NotNil(t, snap.GetMetadata())
	require.Zero(t, snap.GetMetadata().GetIndex())
	term, err := s.Term(0)
	require.NoError(t, err)
	require.Zero(t, term)
	_, err = s.Term(1)
	require.Same(t, store.ErrUnavailable, err)
	_, err = s.Entries(1, 1, noLimit)
	require.Same(t, store.ErrUnavailable, err)
	_, err = s.Entries(0, 1, noLimit)
	require.Same(t, store.ErrCompacted, err)
	// Empty batches are no-ops.
	require.NoError(t, s.Save(nil, nil, nil))
	require.NoError(t, s.Save(&raftpb.HardState{}, []*raftpb.Entry{}, &raftpb.Snapshot{}))
	requireBounds(t, s, 1, 0)
}

func testSaveAndRead(t *testing.T, s store.Store) {
	ents := append(entries(1, 4, 1), entries(4, 6, 2)...)
	ents[2].Type = raftpb.EntryConfChange.Enum()
	require.NoError(t, s.Save(hardState(2, 1, 3), ents, nil))
	requireLog(t, s, ents)
	requireTerms(t, s, 0, 0, 1, 1, 1, 2, 2)
	hs, cs, err := s.InitialState()
	require.NoError(t, err)
	require.True(t, hardStateEqual(hardState(2, 1, 3), hs), "hard state %v", hs)
	require.True(t, confStateEqual(&raftpb.ConfState{}, cs), "conf state %v", cs)

	// A sub-range, and an empty one.
	got, err := s.Entries(2, 4, noLimit)
	require.NoError(t, err)
	requireEntries(t, ents[1:3], got)
	got, err = s.Entries(3, 3, noLimit)
	require.NoError(t, err)
	require.Empty(t, got)

	// Appending continues the log; a hard state alone replaces the last.
	more := entries(6, 8, 3)
	require.NoError(t, s.Save(nil, more, nil))
	require.NoError(t, s.Save(hardState(3, 2, 7), nil, nil))
	requireLog(t, s, append(ents, more...))
	hs, _, err = s.InitialState()
	require.NoError(t, err)
	require.True(t, hardStateEqual(hardState(3, 2, 7), hs), "hard state %v", hs)
}

func testConflict(t *testing.T, s store.Store) {
	require.NoError(t, s.Save(nil, entries(1, 11, 1), nil))

	// Overwrite from 6 with a shorter tail: 7..10 are gone.
	require.NoError(t, s.Save(nil, entries(6, 7, 2), nil))
	requireLog(t, s, append(entries(1, 6, 1), entries(6, 7, 2)...))
	_, err := s.Term(7)
	require.Same(t, store.ErrUnavailable, err)

	// Overwrite from 3 with a longer tail.
	require.NoError(t, s.Save(nil, entries(3, 13, 3), nil))
	requireLog(t, s, append(entries(1, 3, 1), entries(3, 13, 3)...))

	// Overwrite the whole log.
	require.NoError(t, s.Save(nil, entries(1, 3, 4), nil))
	requireLog(t, s, entries(1, 3, 4))

	// Re-saving identical entries changes nothing.
	require.NoError(t, s.Save(nil, entries(1, 3, 4), nil))
	requireLog(t, s, entries(1, 3, 4))
}

func testMaxSize(t *testing.T, s store.Store) {
	ents := entries(1, 6, 1)
	for _, e := range ents {
		e.Data = make([]byte, 100)
	}
	require.NoError(t, s.Save(nil, ents, nil))
	size := uint64(proto.Size(ents[0]))
	for _, tc := range []struct {
		maxSize uint64
		want    int
	}{
		{0, 1},
		{1, 1},
		{size - 1, 1},
		{size, 1},
		{2*size - 1, 1},
		{2 * size, 2},
		{3*size + 1, 3},
		{5 * size, 5},
		{noLimit, 5},
	} {
		got, err := s.Entries(1, 6, tc.maxSize)
		require.NoError(t, err)
		require.Len(t, got, tc.want, "maxSize %d", tc.maxSize)
		requireEntries(t, ents[:tc.want], got)
	}
}

func testBounds(t *testing.T, s store.Store) {
	require.NoError(t, s.Save(nil, entries(1, 11, 1), nil))
	require.NoError(t, s.Compact(4))
	requireBounds(t, s, 5, 10)

	// The raft sentinels come back unwrapped: raft compares them with ==.
	_, err := s.Term(3)
	require.Same(t, store.ErrCompacted, err)
	_, err = s.Term(11)
	require.Same(t, store.ErrUnavailable, err)
	requireTerms(t, s, 4, 1, 1, 1, 1, 1, 1, 1)
	_, err = s.Entries(4, 6, noLimit)
	require.Same(t, store.ErrCompacted, err)
	_, err = s.Entries(3, 6, noLimit)
	require.Same(t, store.ErrCompacted, err)
	got, err := s.Entries(5, 11, noLimit)
	require.NoError(t, err)
	requireEntries(t, entries(5, 11, 1), got)
	require.Same(t, store.ErrCompacted, s.Compact(4))
	require.Same(t, store.ErrCompacted, s.Compact(2))

	// Where raft.MemoryStorage panics, the store returns an error.
	_, err = s.Entries(5, 12, noLimit)
	require.ErrorIs(t, err, store.ErrUnavailable)
	_, err = s.Entries(8, 7, noLimit)
	require.Error(t, err)
	require.ErrorIs(t, s.Compact(11), store.ErrUnavailable)

	// Compacting up to the last index leaves only the base.
	require.NoError(t, s.Compact(10))
	requireBounds(t, s, 11, 10)
	_, err = s.Entries(11, 11, noLimit)
	require.Same(t, store.ErrUnavailable, err)
	requireTerms(t, s, 10, 1)
}

func testSaveSnapshot(t *testing.T, s store.Store) {
	require.NoError(t, s.Save(hardState(1, 1, 5), entries(1, 11, 1), nil))

	// A snapshot behind the last index still discards the whole log.
	snap := snapshot(5, 2, confState(1, 2, 3), []byte("state at 5"))
	require.NoError(t, s.Save(nil, nil, snap))
	requireBounds(t, s, 6, 5)
	requireTerms(t, s, 5, 2)
	_, err := s.Term(6)
	require.Same(t, store.ErrUnavailable, err)
	got, err := s.Snapshot()
	require.NoError(t, err)
	requireSnapshot(t, snap, got)
	hs, cs, err := s.InitialState()
	require.NoError(t, err)
	require.True(t, hardStateEqual(hardState(1, 1, 5), hs), "hard state %v", hs)
	require.True(t, confStateEqual(confState(1, 2, 3), cs), "conf state %v", cs)

	// Snapshot, entries and hard state in one batch: entries at or before
	// the snapshot are dropped.
	snap = snapshot(20, 3, confState(1, 2), []byte("state at 20"))
	require.NoError(t, s.Save(hardState(3, 2, 20), entries(18, 25, 3), snap))
	requireLog(t, s, entries(21, 25, 3))
	requireTerms(t, s, 20, 3)
	got, err = s.Snapshot()
	require.NoError(t, err)
	requireSnapshot(t, snap, got)
	hs, cs, err = s.InitialState()
	require.NoError(t, err)
	require.True(t, hardStateEqual(hardState(3, 2, 20), hs), "hard state %v", hs)
	require.True(t, confStateEqual(confState(1, 2), cs), "conf state %v", cs)

	// An older or equal snapshot is refused, and nothing of its batch is
	// saved.
	for _, i := range []uint64{20, 10} {
		err = s.Save(hardState(9, 9, 9), entries(21, 30, 9), snapshot(i, 3, confState(1), nil))
		require.ErrorIs(t, err, store.ErrSnapOutOfDate)
	}
	requireLog(t, s, entries(21, 25, 3))
	hs, _, err = s.InitialState()
	require.NoError(t, err)
	require.True(t, hardStateEqual(hardState(3, 2, 20), hs), "hard state %v", hs)

	// A snapshot past the last index is how a lagging follower catches up.
	snap = snapshot(100, 4, confState(1, 2), nil)
	require.NoError(t, s.Save(nil, nil, snap))
	requireBounds(t, s, 101, 100)
	got, err = s.Snapshot()
	require.NoError(t, err)
	requireSnapshot(t, snap, got)
}

func testCreateSnapshot(t *testing.T, s store.Store) {
	require.NoError(t, s.Save(hardState(2, 1, 8), append(entries(1, 5, 1), entries(5, 11, 2)...), nil))

	snap, err := s.CreateSnapshot(6, confState(1, 2), []byte("six"))
	require.NoError(t, err)
	want := snapshot(6, 2, confState(1, 2), []byte("six"))
	requireSnapshot(t, want, snap)
	got, err := s.Snapshot()
	require.NoError(t, err)
	requireSnapshot(t, want, got)
	// Creating a snapshot keeps the log.
	requireBounds(t, s, 1, 10)
	_, cs, err := s.InitialState()
	require.NoError(t, err)
	require.True(t, confStateEqual(confState(1, 2), cs), "conf state %v", cs)

	for _, i := range []uint64{6, 3} {
		_, err = s.CreateSnapshot(i, confState(1), nil)
		require.ErrorIs(t, err, store.ErrSnapOutOfDate)
	}

	// Compact to the snapshot: the snapshot's entry becomes the base.
	require.NoError(t, s.Compact(6))
	requireBounds(t, s, 7, 10)
	requireTerms(t, s, 6, 2, 2, 2, 2, 2)

	// A nil conf state keeps the previous one.
	snap, err = s.CreateSnapshot(8, nil, []byte("eight"))
	require.NoError(t, err)
	requireSnapshot(t, snapshot(8, 2, confState(1, 2), []byte("eight")), snap)

	// Compacting past the snapshot is allowed; a snapshot inside the
	// compacted part is not, one at the base is.
	require.NoError(t, s.Compact(10))
	_, err = s.CreateSnapshot(9, nil, nil)
	require.ErrorIs(t, err, store.ErrCompacted)
	_, err = s.CreateSnapshot(11, nil, nil)
	require.ErrorIs(t, err, store.ErrUnavailable)
	_, err = s.CreateSnapshot(10, nil, nil)
	require.NoError(t, err)
	got, err = s.Snapshot()
	require.NoError(t, err)
	requireSnapshot(t, snapshot(10, 2, confState(1, 2), nil), got)
}

func testBadInput(t *testing.T, s store.Store) {
	require.NoError(t, s.Save(hardState(1, 1, 1), entries(1, 6, 1), nil))

	// A gap after the last index.
	require.Error(t, s.Save(hardState(2, 2, 2), entries(7, 9, 2), nil))
	// Entries that are not consecutive.
	require.Error(t, s.Save(hardState(2, 2, 2), []*raftpb.Entry{entry(6, 2), entry(8, 2)}, nil))
	require.Error(t, s.Save(hardState(2, 2, 2), []*raftpb.Entry{entry(3, 2), entry(3, 2)}, nil))
	// A snapshot past the last index.
	_, err := s.CreateSnapshot(6, confState(1), nil)
	require.ErrorIs(t, err, store.ErrUnavailable)

	// Nothing of the failed batches was saved.
	requireLog(t, s, entries(1, 6, 1))
	hs, _, err := s.InitialState()
	require.NoError(t, err)
	require.True(t, hardStateEqual(hardState(1, 1, 1), hs), "hard state %v", hs)

	// Entries at or before the base are ignored, not an error.
	require.NoError(t, s.Compact(3))
	require.NoError(t, s.Save(nil, entries(1, 3, 7), nil))
	requireLog(t, s, entries(4, 6, 1))
	require.NoError(t, s.Save(nil, entries(2, 5, 7), nil))
	requireLog(t, s, entries(4, 5, 7))
	requireTerms(t, s, 3, 1)
}

func testCopies(t *testing.T, s store.Store) {
	ents := entries(1, 4, 1)
	hs := hardState(1, 1, 1)
	require.NoError(t, s.Save(hs, ents, nil))
	// The caller may reuse what it saved.
	ents[0].Data[0] = 99
	ents[1].Term = proto.Uint64(9)
	hs.Commit = proto.Uint64(9)
	requireLog(t, s, entries(1, 4, 1))
	got, _, err := s.InitialState()
	require.NoError(t, err)
	require.True(t, hardStateEqual(hardState(1, 1, 1), got), "hard state %v", got)

	// The caller may append to what Entries returns.
	read, err := s.Entries(1, 3, noLimit)
	require.NoError(t, err)
	_ = append(read, entry(3, 9))
	requireLog(t, s, entries(1, 4, 1))

	data := []byte("data")
	_, err = s.CreateSnapshot(2, confState(1), data)
	require.NoError(t, err)
	data[0] = 'X'
	snap, err := s.Snapshot()
	require.NoError(t, err)
	require.Equal(t, []byte("data"), snap.GetData())
	snap.Data[0] = 'Y'
	snap, err = s.Snapshot()
	require.NoError(t, err)
	require.Equal(t, []byte("data"), snap.GetData())
}

func testClose(t *testing.T, s store.Store) {
	require.NoError(t, s.Save(nil, entries(1, 3, 1), nil))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close")

	_, _, err := s.InitialState()
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = s.Entries(1, 2, noLimit)
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = s.Term(1)
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = s.FirstIndex()
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = s.LastIndex()
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = s.Snapshot()
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorIs(t, s.Save(nil, entries(3, 4, 1), nil), store.ErrClosed)
	_, err = s.CreateSnapshot(1, nil, nil)
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorIs(t, s.Compact(1), store.ErrClosed)
}
