package bolt

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// BenchmarkSave measures one Save, so one transaction and fsync, of a
// batch of 256-byte entries and a hard state, as a raft Ready carries them.
func BenchmarkSave(b *testing.B) {
	for _, opts := range []Options{{}, {NoFreelistSync: true}} {
		for _, n := range []int{1, 64} {
			b.Run(fmt.Sprintf("entries=%d/NoFreelistSync=%t", n, opts.NoFreelistSync), func(b *testing.B) {
				s := openTemp(b, opts)
				data := make([]byte, 256)
				ents := make([]*raftpb.Entry, n)
				next := uint64(1)
				b.SetBytes(int64(n * len(data)))
				b.ReportAllocs()
				for b.Loop() {
					for i := range ents {
						ents[i] = &raftpb.Entry{Index: proto.Uint64(next), Term: proto.Uint64(1), Data: data}
						next++
					}
					hs := &raftpb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(next - 1)}
					require.NoError(b, s.Save(hs, ents, nil))
				}
			})
		}
	}
}
