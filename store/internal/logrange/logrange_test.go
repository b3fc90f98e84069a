package logrange

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func ents(indexes ...uint64) []*raftpb.Entry {
	out := make([]*raftpb.Entry, len(indexes))
	for i, idx := range indexes {
		out[i] = &raftpb.Entry{Index: proto.Uint64(idx)}
	}
	return out
}

func indexes(es []*raftpb.Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.GetIndex())
	}
	return out
}

func TestAppend(t *testing.T) {
	for _, tc := range []struct {
		name       string
		base, last uint64
		in         []uint64
		want       []uint64
		err        bool
	}{
		{"empty", 0, 0, nil, nil, false},
		{"append", 3, 5, []uint64{6, 7}, []uint64{6, 7}, false},
		{"overwrite", 3, 5, []uint64{4, 5, 6}, []uint64{4, 5, 6}, false},
		{"all compacted", 3, 5, []uint64{1, 2, 3}, nil, false},
		{"partly compacted", 3, 5, []uint64{2, 3, 4}, []uint64{4}, false},
		{"gap", 3, 5, []uint64{7}, nil, true},
		{"not consecutive", 3, 5, []uint64{4, 6}, nil, true},
		{"repeated", 3, 5, []uint64{4, 4}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Append(tc.base, tc.last, ents(tc.in...))
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, indexes(got))
		})
	}
}

func TestChecks(t *testing.T) {
	// The log (3, 5].
	require.Same(t, raft.ErrCompacted, CheckEntries(3, 5, 3, 5))
	require.NoError(t, CheckEntries(4, 6, 3, 5))
	require.NoError(t, CheckEntries(6, 6, 3, 5))
	require.ErrorIs(t, CheckEntries(4, 7, 3, 5), raft.ErrUnavailable)
	require.Error(t, CheckEntries(5, 4, 3, 5))
	require.Same(t, raft.ErrUnavailable, CheckEntries(4, 4, 3, 3))

	require.Same(t, raft.ErrCompacted, CheckTerm(2, 3, 5))
	require.NoError(t, CheckTerm(3, 3, 5))
	require.Same(t, raft.ErrUnavailable, CheckTerm(6, 3, 5))

	require.Same(t, raft.ErrSnapOutOfDate, CheckSnapshot(4, 4, 3, 5))
	require.Same(t, raft.ErrCompacted, CheckSnapshot(2, 1, 3, 5))
	require.ErrorIs(t, CheckSnapshot(6, 1, 3, 5), raft.ErrUnavailable)
	require.NoError(t, CheckSnapshot(3, 1, 3, 5))

	require.Same(t, raft.ErrCompacted, CheckCompact(3, 3, 5))
	require.ErrorIs(t, CheckCompact(6, 3, 5), raft.ErrUnavailable)
	require.NoError(t, CheckCompact(5, 3, 5))

	require.True(t, Limit(0, 0, 100, 0))
	require.False(t, Limit(1, 100, 100, 199))
	require.True(t, Limit(1, 100, 100, 200))
}
