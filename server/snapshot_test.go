package server

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

func sampleState() *structs.StateSnapshot {
	return &structs.StateSnapshot{
		Index: 42,
		Jobs:  []*structs.Job{mockJob("a", 2), mockJob("b", 1)},
		Nodes: []*structs.Node{mockNode("n1")},
		Allocations: []*structs.Allocation{
			{Id: "al1", JobId: "a", NodeId: "n1", TaskGroup: "g"},
		},
		Evals: []*structs.Evaluation{{Id: "e1", JobId: "a", Status: structs.EvalStatusComplete}},
	}
}

func encodeSnapshot(t testing.TB, hdr *structs.SnapshotHeader, st *structs.StateSnapshot) []byte {
	var b bytes.Buffer
	require.NoError(t, writeSnapshot(&b, hdr, st))
	return b.Bytes()
}

func TestSnapshotStreamRoundTrip(t *testing.T) {
	st := sampleState()
	hdr := &structs.SnapshotHeader{Index: 42, Term: 3, Peers: []*structs.RaftPeer{{Id: 7, Name: "s", Addr: "a:1", Voter: true}}, RemovedIds: []uint64{9}}
	data := encodeSnapshot(t, hdr, st)
	gotHdr, got, err := readSnapshot(bytes.NewReader(data))
	require.NoError(t, err)
	require.True(t, proto.Equal(st, got), "the state survives")
	require.Equal(t, uint64(3), gotHdr.Term)
	require.Equal(t, []uint64{9}, gotHdr.RemovedIds)
	require.Equal(t, "s", gotHdr.Peers[0].Name)
	_, err = verifySnapshot(bytes.NewReader(data))
	require.NoError(t, err)

	// An empty state is a valid stream too.
	_, got, err = readSnapshot(bytes.NewReader(encodeSnapshot(t, &structs.SnapshotHeader{Index: 1}, &structs.StateSnapshot{})))
	require.NoError(t, err)
	require.Empty(t, got.Jobs)
}

func TestSnapshotStreamKeepsFieldsItDoesNotKnow(t *testing.T) {
	st := sampleState()
	// A later version's table, as unknown field 99 of StateSnapshot.
	unknown := protowire.AppendTag(nil, 99, protowire.BytesType)
	unknown = protowire.AppendBytes(unknown, []byte("future object"))
	st.ProtoReflect().SetUnknown(unknown)
	_, got, err := readSnapshot(bytes.NewReader(encodeSnapshot(t, &structs.SnapshotHeader{Index: 42}, st)))
	require.NoError(t, err)
	require.True(t, proto.Equal(st, got))
}

func TestSnapshotStreamDetectsDamage(t *testing.T) {
	data := encodeSnapshot(t, &structs.SnapshotHeader{Index: 42}, sampleState())
	for i := range data {
		bad := bytes.Clone(data)
		bad[i] ^= 0x5a
		_, _, err := readSnapshot(bytes.NewReader(bad))
		require.ErrorIs(t, err, ErrBadSnapshot, "a flipped byte at %d of %d is noticed", i, len(data))
	}
	for _, n := range []int{0, 3, len(snapshotMagic), len(data) / 2, len(data) - 1} {
		_, _, err := readSnapshot(bytes.NewReader(data[:n]))
		require.ErrorIs(t, err, ErrBadSnapshot, "a stream cut at %d is noticed", n)
	}
	_, _, err := readSnapshot(io.MultiReader(bytes.NewReader(data), bytes.NewReader([]byte{0})))
	require.ErrorIs(t, err, ErrBadSnapshot, "trailing bytes are noticed")
}

func FuzzReadSnapshot(f *testing.F) {
	f.Add(encodeSnapshot(f, &structs.SnapshotHeader{Index: 42}, sampleState()))
	f.Add([]byte(snapshotMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		hdr, st, err := readSnapshot(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("error %v is not ErrBadSnapshot", err)
			}
			return
		}
		// What decodes re-encodes to a stream that decodes to the same.
		var b bytes.Buffer
		if err := writeSnapshot(&b, hdr, st); err != nil {
			t.Fatal(err)
		}
		_, again, err := readSnapshot(&b)
		if err != nil || !proto.Equal(st, again) {
			t.Fatalf("re-encoding changed the state: %v", err)
		}
	})
}
