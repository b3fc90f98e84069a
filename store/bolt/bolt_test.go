package bolt

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/store"
	"github.com/droverhq/drover/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openTemp(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "raft.db"), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t, Options{}) })
}

func TestConformanceNoFreelistSync(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t, Options{NoFreelistSync: true}) })
}

func entries(lo, hi, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := lo; i < hi; i++ {
		out = append(out, &raftpb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(term), Data: []byte{byte(i)}})
	}
	return out
}

// state is everything a store shows through store.Store.
type state struct {
	first, last uint64
	terms       []uint64
	ents        []*raftpb.Entry
	hs          *raftpb.HardState
	cs          *raftpb.ConfState
	snap        *raftpb.Snapshot
}

func readState(t *testing.T, s store.Store) state {
	t.Helper()
	var st state
	var err error
	st.first, err = s.FirstIndex()
	require.NoError(t, err)
	st.last, err = s.LastIndex()
	require.NoError(t, err)
	for i := st.first - 1; i <= st.last; i++ {
		term, err := s.Term(i)
		require.NoError(t, err)
		st.terms = append(st.terms, term)
	}
	if st.last >= st.first {
		st.ents, err = s.Entries(st.first, st.last+1, ^uint64(0))
		require.NoError(t, err)
	}
	st.hs, st.cs, err = s.InitialState()
	require.NoError(t, err)
	st.snap, err = s.Snapshot()
	require.NoError(t, err)
	return st
}

func requireSameState(t *testing.T, want, got state) {
	t.Helper()
	require.Equal(t, want.first, got.first, "first index")
	require.Equal(t, want.last, got.last, "last index")
	require.Equal(t, want.terms, got.terms, "terms")
	require.Len(t, got.ents, len(want.ents))
	for i := range want.ents {
		require.True(t, proto.Equal(want.ents[i], got.ents[i]), "entry %d: want %v, got %v", i, want.ents[i], got.ents[i])
	}
	require.True(t, proto.Equal(want.hs, got.hs), "hard state: want %v, got %v", want.hs, got.hs)
	require.True(t, proto.Equal(want.cs, got.cs), "conf state: want %v, got %v", want.cs, got.cs)
	require.True(t, proto.Equal(want.snap, got.snap), "snapshot: want %v, got %v", want.snap, got.snap)
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	reopen := func(s *Store) *Store {
		t.Helper()
		want := readState(t, s)
		require.NoError(t, s.Close())
		s, err := Open(path, Options{})
		require.NoError(t, err)
		requireSameState(t, want, readState(t, s))
		return s
	}

	s, err := Open(path, Options{})
	require.NoError(t, err)
	s = reopen(s) // empty

	hs := &raftpb.HardState{Term: proto.Uint64(2), Vote: proto.Uint64(1), Commit: proto.Uint64(8)}
	require.NoError(t, s.Save(hs, append(entries(1, 6, 1), entries(6, 11, 2)...), nil))
	s = reopen(s)

	// A conflicting overwrite that shortens the log.
	require.NoError(t, s.Save(nil, entries(8, 9, 3), nil))
	s = reopen(s)

	cs := &raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}
	_, err = s.CreateSnapshot(6, cs, []byte("state at 6"))
	require.NoError(t, err)
	s = reopen(s)

	require.NoError(t, s.Compact(5))
	s = reopen(s)

	// A snapshot from the leader replaces the log.
	snap := &raftpb.Snapshot{
		Data: []byte("state at 30"),
		Metadata: &raftpb.SnapshotMetadata{
			Index: proto.Uint64(30), Term: proto.Uint64(4), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}},
		},
	}
	require.NoError(t, s.Save(hs, entries(31, 34, 4), snap))
	s = reopen(s)
	first, err := s.FirstIndex()
	require.NoError(t, err)
	require.Equal(t, uint64(31), first)
	term, err := s.Term(30)
	require.NoError(t, err)
	require.Equal(t, uint64(4), term)

	// Compact past the snapshot.
	require.NoError(t, s.Compact(32))
	s = reopen(s)

	// Metadata survives a reopen and leaves the raft state alone.
	require.NoError(t, s.SetMeta("raft-id", []byte("42")))
	s = reopen(s)
	v, err := s.Meta("raft-id")
	require.NoError(t, err)
	require.Equal(t, []byte("42"), v)
	require.NoError(t, s.Close())
}

func TestNoFreelistSync(t *testing.T) {
	s := openTemp(t, Options{NoFreelistSync: true})
	require.True(t, s.db.NoFreelistSync)
	s = openTemp(t, Options{})
	require.False(t, s.db.NoFreelistSync)
}

func TestOpenLockedFileTimesOut(t *testing.T) {
	s := openTemp(t, Options{})
	start := time.Now()
	_, err := Open(s.Path(), Options{Timeout: 100 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
	require.Contains(t, err.Error(), s.Path())
	require.Less(t, time.Since(start), 10*time.Second)

	// Once the first store is closed, the file opens.
	require.NoError(t, s.Close())
	s2, err := Open(s.Path(), Options{Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, s2.Close())
}

func TestOpenBadFile(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	require.NoError(t, os.WriteFile(garbage, make([]byte, 64<<10), 0o600))
	_, err := Open(garbage, Options{})
	require.Error(t, err)

	_, err = Open(filepath.Join(dir, "missing", "raft.db"), Options{})
	require.Error(t, err)
}
