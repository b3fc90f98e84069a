package bolt_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/store"
	"github.com/droverhq/drover/store/bolt"
	"github.com/droverhq/drover/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "raft.db"), bolt.Options{NoFreelistSync: true})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func entries(from, to, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := from; i <= to; i++ {
		out = append(out, &raftpb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(term), Data: []byte("x")})
	}
	return out
}

func TestReopenSeesEverythingSaved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s, err := bolt.Open(path, bolt.Options{})
	require.NoError(t, err)
	hs := &raftpb.HardState{Term: proto.Uint64(4), Vote: proto.Uint64(1), Commit: proto.Uint64(9)}
	require.NoError(t, s.Save(hs, entries(1, 12, 4), nil))
	_, err = s.CreateSnapshot(9, &raftpb.ConfState{Voters: []uint64{1}}, []byte("state at 9"))
	require.NoError(t, err)
	require.NoError(t, s.Compact(5))
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Save(hs, nil, nil), store.ErrClosed)

	s, err = bolt.Open(path, bolt.Options{})
	require.NoError(t, err)
	defer s.Close()
	gotHS, cs, err := s.InitialState()
	require.NoError(t, err)
	require.True(t, proto.Equal(hs, gotHS))
	require.Equal(t, []uint64{1}, cs.GetVoters())
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	require.Equal(t, uint64(6), first)
	require.Equal(t, uint64(12), last)
	snap, err := s.Snapshot()
	require.NoError(t, err)
	require.Equal(t, uint64(9), snap.GetMetadata().GetIndex())
	require.Equal(t, []byte("state at 9"), snap.GetData())
	term, err := s.Term(5)
	require.NoError(t, err)
	require.Equal(t, uint64(4), term)
}

func TestOpenLockedFileTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s, err := bolt.Open(path, bolt.Options{})
	require.NoError(t, err)
	defer s.Close()
	_, err = bolt.Open(path, bolt.Options{Timeout: 50 * time.Millisecond})
	require.ErrorContains(t, err, "timeout")
}

func BenchmarkSave(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(map[int]string{1: "1x256B", 64: "64x256B"}[n], func(b *testing.B) {
			s, err := bolt.Open(filepath.Join(b.TempDir(), "raft.db"), bolt.Options{NoFreelistSync: true})
			require.NoError(b, err)
			defer s.Close()
			data := make([]byte, 256)
			next := uint64(1)
			b.ResetTimer()
			for range b.N {
				ents := make([]*raftpb.Entry, n)
				for i := range ents {
					ents[i] = &raftpb.Entry{Index: proto.Uint64(next), Term: proto.Uint64(1), Data: data}
					next++
				}
				hs := &raftpb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(next - 1)}
				if err := s.Save(hs, ents, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
