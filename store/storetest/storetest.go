// Package storetest is a conformance suite for store.Store implementations:
// it checks each against raft.MemoryStorage, the reference semantics.
package storetest

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/store"
)

// Open returns a fresh, empty store for one subtest.
type Open func(t *testing.T) store.Store

func ent(i, term uint64) *raftpb.Entry {
	return &raftpb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(term), Data: []byte{byte(i), byte(term)}}
}

func hs(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(vote), Commit: proto.Uint64(commit)}
}

// Run runs the whole suite against stores made by open.
func Run(t *testing.T, open Open) {
	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		first, err := s.FirstIndex()
		require.NoError(t, err)
		require.Equal(t, uint64(1), first)
		last, err := s.LastIndex()
		require.NoError(t, err)
		require.Equal(t, uint64(0), last)
		h, cs, err := s.InitialState()
		require.NoError(t, err)
		require.True(t, raft.IsEmptyHardState(h))
		require.NotNil(t, cs)
		snap, err := s.Snapshot()
		require.NoError(t, err)
		require.True(t, raft.IsEmptySnap(snap))
	})

	t.Run("SaveAndRead", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.Save(hs(2, 1, 3), []*raftpb.Entry{ent(1, 1), ent(2, 1), ent(3, 2)}, nil))
		h, _, err := s.InitialState()
		require.NoError(t, err)
		require.Equal(t, uint64(2), h.GetTerm())
		require.Equal(t, uint64(3), h.GetCommit())
		ents, err := s.Entries(1, 4, 1<<20)
		require.NoError(t, err)
		require.Len(t, ents, 3)
		require.Equal(t, []byte{3, 2}, ents[2].GetData())
		term, err := s.Term(3)
		require.NoError(t, err)
		require.Equal(t, uint64(2), term)
		_, err = s.Term(4)
		require.ErrorIs(t, err, raft.ErrUnavailable)
		ents, err = s.Entries(1, 4, 0)
		require.NoError(t, err)
		require.Len(t, ents, 1, "maxSize 0 still returns one entry")
	})

	t.Run("ConflictTruncates", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.Save(nil, []*raftpb.Entry{ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1)}, nil))
		require.NoError(t, s.Save(nil, []*raftpb.Entry{ent(3, 2)}, nil))
		last, err := s.LastIndex()
		require.NoError(t, err)
		require.Equal(t, uint64(3), last, "entries after a conflicting one are dropped")
		term, err := s.Term(3)
		require.NoError(t, err)
		require.Equal(t, uint64(2), term)
		require.Error(t, s.Save(nil, []*raftpb.Entry{ent(9, 2)}, nil), "a gap is refused")
	})

	t.Run("SnapshotAndCompact", func(t *testing.T) {
		s := open(t)
		var ents []*raftpb.Entry
		for i := uint64(1); i <= 10; i++ {
			ents = append(ents, ent(i, 1))
		}
		require.NoError(t, s.Save(hs(1, 1, 10), ents, nil))
		cs := &raftpb.ConfState{Voters: []uint64{1}}
		snap, err := s.CreateSnapshot(8, cs, []byte("state"))
		require.NoError(t, err)
		require.Equal(t, uint64(8), snap.GetMetadata().GetIndex())
		_, err = s.CreateSnapshot(8, cs, nil)
		require.ErrorIs(t, err, raft.ErrSnapOutOfDate)
		_, err = s.CreateSnapshot(11, cs, nil)
		require.Error(t, err)
		require.NoError(t, s.Compact(6))
		first, err := s.FirstIndex()
		require.NoError(t, err)
		require.Equal(t, uint64(7), first)
		_, err = s.Entries(5, 8, 1<<20)
		require.ErrorIs(t, err, raft.ErrCompacted)
		require.ErrorIs(t, s.Compact(3), raft.ErrCompacted)
		require.Error(t, s.Compact(20))
		term, err := s.Term(6)
		require.NoError(t, err, "the term of the base entry is kept")
		require.Equal(t, uint64(1), term)
		got, err := s.Snapshot()
		require.NoError(t, err)
		require.Equal(t, []byte("state"), got.GetData())
		_, cs2, err := s.InitialState()
		require.NoError(t, err)
		require.Equal(t, []uint64{1}, cs2.GetVoters())
	})

	t.Run("SaveSnapshotResetsLog", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.Save(nil, []*raftpb.Entry{ent(1, 1), ent(2, 1)}, nil))
		snap := &raftpb.Snapshot{
			Data:     []byte("remote"),
			Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(20), Term: proto.Uint64(3), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}}},
		}
		require.NoError(t, s.Save(hs(3, 0, 20), []*raftpb.Entry{ent(21, 3)}, snap))
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		require.Equal(t, uint64(21), first)
		require.Equal(t, uint64(21), last)
		term, err := s.Term(20)
		require.NoError(t, err)
		require.Equal(t, uint64(3), term)
		require.ErrorIs(t, s.Save(nil, nil, snap), raft.ErrSnapOutOfDate)
	})

	t.Run("MatchesMemoryStorage", func(t *testing.T) {
		for seed := uint64(1); seed <= 20; seed++ {
			compareWithMemory(t, open(t), seed)
		}
	})
}

// compareWithMemory applies one random operation sequence to s and to
// raft.MemoryStorage and checks they agree after every step.
func compareWithMemory(t *testing.T, s store.Store, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed*7))
	ms := raft.NewMemoryStorage()
	term := uint64(1)
	for step := 0; step < 200; step++ {
		last, _ := ms.LastIndex()
		first, _ := ms.FirstIndex()
		switch op := rng.IntN(10); {
		case op < 6: // append, sometimes overwriting a suffix
			start := last + 1
			if last >= first && rng.IntN(3) == 0 {
				start = first + uint64(rng.IntN(int(last-first+1)))
				term++
			}
			var ents []*raftpb.Entry
			for i := 0; i < 1+rng.IntN(5); i++ {
				ents = append(ents, ent(start+uint64(i), term))
			}
			require.NoError(t, ms.Append(cloneEntries(ents)))
			require.NoError(t, s.Save(hs(term, 0, 0), ents, nil))
		case op < 8 && last >= first: // snapshot then compact
			idx := first + uint64(rng.IntN(int(last-first+1)))
			_, errM := ms.CreateSnapshot(idx, &raftpb.ConfState{Voters: []uint64{1}}, []byte{byte(idx)})
			_, errS := s.CreateSnapshot(idx, &raftpb.ConfState{Voters: []uint64{1}}, []byte{byte(idx)})
			require.Equal(t, errM == nil, errS == nil, "seed %d step %d: snapshot at %d: %v vs %v", seed, step, idx, errM, errS)
			if rng.IntN(2) == 0 {
				errM = ms.Compact(idx)
				errS = s.Compact(idx)
				require.Equal(t, errors.Is(errM, raft.ErrCompacted), errors.Is(errS, raft.ErrCompacted))
			}
		default: // read a random range
			if last < first {
				continue
			}
			lo := first + uint64(rng.IntN(int(last-first+1)))
			hi := lo + uint64(rng.IntN(int(last-lo+2)))
			max := uint64(rng.IntN(64))
			em, errM := ms.Entries(lo, hi, max)
			es, errS := s.Entries(lo, hi, max)
			require.Equal(t, errM, errS)
			require.Equal(t, len(em), len(es), "seed %d step %d: entries [%d,%d) max %d", seed, step, lo, hi, max)
			for i := range em {
				require.True(t, proto.Equal(em[i], es[i]))
			}
		}
		fm, _ := ms.FirstIndex()
		fs, err := s.FirstIndex()
		require.NoError(t, err)
		require.Equal(t, fm, fs, "seed %d step %d first index", seed, step)
		lm, _ := ms.LastIndex()
		ls, err := s.LastIndex()
		require.NoError(t, err)
		require.Equal(t, lm, ls, "seed %d step %d last index", seed, step)
		for i := fm - 1; i <= lm; i++ {
			tm, errM := ms.Term(i)
			ts, errS := s.Term(i)
			require.Equal(t, errM, errS)
			require.Equal(t, tm, ts, "seed %d step %d term %d", seed, step, i)
		}
	}
}

func cloneEntries(ents []*raftpb.Entry) []*raftpb.Entry {
	out := make([]*raftpb.Entry, len(ents))
	for i, e := range ents {
		out[i] = proto.Clone(e).(*raftpb.Entry)
	}
	return out
}
