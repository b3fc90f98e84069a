package storetest

import (
	"bytes"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/store"
)

// entry returns an entry at index with term and some data.
func entry(index, term uint64, data ...byte) *raftpb.Entry {
	return &raftpb.Entry{Index: proto.Uint64(index), Term: proto.Uint64(term), Data: data}
}

// entries returns the entries [lo, hi), all with term.
func entries(lo, hi, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := lo; i < hi; i++ {
		out = append(out, entry(i, term, byte(i), byte(term)))
	}
	return out
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(vote), Commit: proto.Uint64(commit)}
}

func confState(voters ...uint64) *raftpb.ConfState {
	return &raftpb.ConfState{Voters: voters, AutoLeave: proto.Bool(false)}
}

func snapshot(index, term uint64, cs *raftpb.ConfState, data []byte) *raftpb.Snapshot {
	return &raftpb.Snapshot{
		Data: data,
		Metadata: &raftpb.SnapshotMetadata{
			Index: proto.Uint64(index), Term: proto.Uint64(term), ConfState: cs,
		},
	}
}

// entriesEqual reports whether two entry lists hold the same entries,
// comparing field values (not field presence).
func entriesEqual(a, b []*raftpb.Entry) bool {
	return slices.EqualFunc(a, b, func(x, y *raftpb.Entry) bool {
		return x.GetIndex() == y.GetIndex() && x.GetTerm() == y.GetTerm() &&
			x.GetType() == y.GetType() && bytes.Equal(x.GetData(), y.GetData())
	})
}

func requireEntries(t testing.TB, want, got []*raftpb.Entry) {
	t.Helper()
	require.True(t, entriesEqual(want, got), "entries differ:\nwant %v\ngot  %v", want, got)
}

func hardStateEqual(a, b *raftpb.HardState) bool {
	return a.GetTerm() == b.GetTerm() && a.GetVote() == b.GetVote() && a.GetCommit() == b.GetCommit()
}

func confStateEqual(a, b *raftpb.ConfState) bool {
	return slices.Equal(a.GetVoters(), b.GetVoters()) &&
		slices.Equal(a.GetLearners(), b.GetLearners()) &&
		slices.Equal(a.GetVotersOutgoing(), b.GetVotersOutgoing()) &&
		slices.Equal(a.GetLearnersNext(), b.GetLearnersNext()) &&
		a.GetAutoLeave() == b.GetAutoLeave()
}

func snapshotEqual(a, b *raftpb.Snapshot) bool {
	return a.GetMetadata().GetIndex() == b.GetMetadata().GetIndex() &&
		a.GetMetadata().GetTerm() == b.GetMetadata().GetTerm() &&
		confStateEqual(a.GetMetadata().GetConfState(), b.GetMetadata().GetConfState()) &&
		bytes.Equal(a.GetData(), b.GetData())
}

func requireSnapshot(t testing.TB, want, got *raftpb.Snapshot) {
	t.Helper()
	require.True(t, snapshotEqual(want, got), "snapshots differ:\nwant %v\ngot  %v", want, got)
}

// requireBounds checks FirstIndex and LastIndex.
func requireBounds(t testing.TB, s store.Store, first, last uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	require.NoError(t, err)
	l, err := s.LastIndex()
	require.NoError(t, err)
	require.Equal(t, [2]uint64{first, last}, [2]uint64{f, l}, "first and last index")
}

// requireTerms checks the term of every index in [from, from+len(terms)).
func requireTerms(t testing.TB, s store.Store, from uint64, terms ...uint64) {
	t.Helper()
	for i, want := range terms {
		got, err := s.Term(from + uint64(i))
		require.NoError(t, err, "term of %d", from+uint64(i))
		require.Equal(t, want, got, "term of %d", from+uint64(i))
	}
}

// requireLog checks that the store's log is exactly want, after base.
func requireLog(t testing.TB, s store.Store, want []*raftpb.Entry) {
	t.Helper()
	require.NotEmpty(t, want)
	requireBounds(t, s, want[0].GetIndex(), want[len(want)-1].GetIndex())
	got, err := s.Entries(want[0].GetIndex(), want[len(want)-1].GetIndex()+1, noLimit)
	require.NoError(t, err)
	requireEntries(t, want, got)
	for _, e := range want {
		requireTerms(t, s, e.GetIndex(), e.GetTerm())
	}
}

// noLimit is the maxSize raft passes when it wants every entry.
const noLimit = ^uint64(0)
