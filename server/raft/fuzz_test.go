package raft

import (
	"context"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/store/inmem"
	"github.com/droverhq/drover/structs"
)

// FuzzNodeInputs hands arbitrary raft messages and snapshot chunks to a
// running node, decoded as the server's gRPC raft handlers decode them:
// what is malformed or not from a peer is refused, and nothing a peer
// sends stops the node.
func FuzzNodeInputs(f *testing.F) {
	cfg := testConfig()
	n := NewNode(cfg, inmem.New(), newJobFSM(), MemSnapshots{}, noPeers{})
	if err := n.Start(StartBootstrap, []*structs.RaftPeer{cfg.Self}); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(n.Stop)
	self := cfg.ID
	for _, m := range []*raftpb.Message{
		{Type: raftpb.MessageType_MsgHeartbeat.Enum(), To: proto.Uint64(self), From: proto.Uint64(self + 1), Term: proto.Uint64(99), Commit: proto.Uint64(1000)},
		{Type: raftpb.MessageType_MsgApp.Enum(), To: proto.Uint64(self), From: proto.Uint64(self), Term: proto.Uint64(1), Index: proto.Uint64(5)},
		{Type: raftpb.MessageType_MsgSnap.Enum(), To: proto.Uint64(self), From: proto.Uint64(7), Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(3)}}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b, []byte("DRVRSNP1"))
	}
	f.Fuzz(func(t *testing.T, msg, chunk []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		m := &raftpb.Message{}
		if proto.Unmarshal(msg, m) != nil {
			return
		}
		if m.GetType() != raftpb.MessageType_MsgSnap {
			_ = n.Step(ctx, proto.CloneOf(m), "127.0.0.1:1")
		}
		_ = n.ReceiveSnapshot(ctx, m, "127.0.0.1:1", chunks(chunk))
		if err := n.Err(); err != nil {
			t.Fatalf("a message from outside the peer set stopped the node: %v", err)
		}
	})
}
