package statestream

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

func job(id string, count int32) *structs.Job {
	return &structs.Job{
		Id: id, TaskGroups: []*structs.TaskGroup{{
			Name: "g", Count: count,
			Tasks: []*structs.Task{{Name: "t", Driver: "mock", Resources: &structs.Resources{CpuMhz: 100, MemoryMb: 100}}},
		}},
	}
}

func sampleState() *structs.StateSnapshot {
	return &structs.StateSnapshot{
		Index: 42,
		Jobs:  []*structs.Job{job("a", 2), job("b", 1)},
		Nodes: []*structs.Node{{Id: "n1", SecretId: "n1-secret", Name: "n1", Datacenter: "dc1"}},
		Allocations: []*structs.Allocation{
			{Id: "al1", JobId: "a", NodeId: "n1", TaskGroup: "g"},
		},
		Evals: []*structs.Evaluation{{Id: "e1", JobId: "a", Status: structs.EvalStatusComplete}},
	}
}

func encode(t testing.TB, hdr *structs.SnapshotHeader, st *structs.StateSnapshot) []byte {
	var b bytes.Buffer
	require.NoError(t, Write(&b, hdr, st))
	return b.Bytes()
}

func TestStreamRoundTrip(t *testing.T) {
	st := sampleState()
	hdr := &structs.SnapshotHeader{Index: 42, Term: 3, Peers: []*structs.RaftPeer{{Id: 7, Name: "s", Addr: "a:1", Voter: true}}, RemovedIds: []uint64{9}}
	data := encode(t, hdr, st)
	gotHdr, got, err := Read(bytes.NewReader(data))
	require.NoError(t, err)
	require.True(t, proto.Equal(st, got), "the state survives")
	require.Equal(t, uint64(3), gotHdr.Term)
	require.Equal(t, []uint64{9}, gotHdr.RemovedIds)
	require.Equal(t, "s", gotHdr.Peers[0].Name)
	_, err = Verify(bytes.NewReader(data))
	require.NoError(t, err)

	// An empty state is a valid stream too.
	_, got, err = Read(bytes.NewReader(encode(t, &structs.SnapshotHeader{Index: 1}, &structs.StateSnapshot{})))
	require.NoError(t, err)
	require.Empty(t, got.Jobs)
}

func TestStreamKeepsFieldsItDoesNotKnow(t *testing.T) {
	st := sampleState()
	// A later version's table, as unknown field 99 of StateSnapshot.
	unknown := protowire.AppendTag(nil, 99, protowire.BytesType)
	unknown = protowire.AppendBytes(unknown, []byte("future object"))
	st.ProtoReflect().SetUnknown(unknown)
	_, got, err := Read(bytes.NewReader(encode(t, &structs.SnapshotHeader{Index: 42}, st)))
	require.NoError(t, err)
	require.True(t, proto.Equal(st, got))
}

func TestStreamDetectsDamage(t *testing.T) {
	data := encode(t, &structs.SnapshotHeader{Index: 42}, sampleState())
	for i := range data {
		bad := bytes.Clone(data)
		bad[i] ^= 0x5a
		_, _, err := Read(bytes.NewReader(bad))
		require.ErrorIs(t, err, ErrBadStream, "a flipped byte at %d of %d is noticed", i, len(data))
	}
	for _, n := range []int{0, 3, len(magic), len(data) / 2, len(data) - 1} {
		_, _, err := Read(bytes.NewReader(data[:n]))
		require.ErrorIs(t, err, ErrBadStream, "a stream cut at %d is noticed", n)
	}
	_, _, err := Read(io.MultiReader(bytes.NewReader(data), bytes.NewReader([]byte{0})))
	require.ErrorIs(t, err, ErrBadStream, "trailing bytes are noticed")
}

func FuzzRead(f *testing.F) {
	f.Add(encode(f, &structs.SnapshotHeader{Index: 42}, sampleState()))
	f.Add([]byte(magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		hdr, st, err := Read(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrBadStream) {
				t.Fatalf("error %v is not ErrBadStream", err)
			}
			return
		}
		// What decodes re-encodes to a stream that decodes to the same.
		var b bytes.Buffer
		if err := Write(&b, hdr, st); err != nil {
			t.Fatal(err)
		}
		_, again, err := Read(&b)
		if err != nil || !proto.Equal(st, again) {
			t.Fatalf("re-encoding changed the state: %v", err)
		}
	})
}
