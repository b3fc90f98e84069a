package server

import (
	"context"
	"io"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/store/inmem"
	"github.com/droverhq/drover/structs"
)

// fakeStream feeds a server-side client stream the messages it holds.
type fakeStream[Req any] struct {
	grpc.ServerStream
	ctx  context.Context
	msgs []*Req
}

func (f *fakeStream[Req]) Context() context.Context { return f.ctx }
func (f *fakeStream[Req]) Recv() (*Req, error) {
	if len(f.msgs) == 0 {
		return nil, io.EOF
	}
	m := f.msgs[0]
	f.msgs = f.msgs[1:]
	return m, nil
}
func (f *fakeStream[Req]) SendAndClose(*structs.Empty) error { return nil }

// FuzzRaftStreams hands arbitrary raft messages and snapshot chunks to a
// live server's raft endpoints: what is malformed or not from a peer is
// refused, and nothing a peer sends crashes the server's host.
func FuzzRaftStreams(f *testing.F) {
	s, err := New(Config{
		Name: "fuzz", Store: inmem.New(), BindAddr: "127.0.0.1:0", NumSchedulers: 0, DisableGossip: true,
		Heartbeat:          heartbeat.DefaultConfig(),
		JobDefaultPriority: 50, JobMaxPriority: 100,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitForLeader(ctx); err != nil {
		f.Fatal(err)
	}
	self := s.self.Id
	for _, m := range []*raftpb.Message{
		{Type: raftpb.MessageType_MsgHeartbeat.Enum(), To: proto.Uint64(self), From: proto.Uint64(self + 1), Term: proto.Uint64(99), Commit: proto.Uint64(1000)},
		{Type: raftpb.MessageType_MsgApp.Enum(), To: proto.Uint64(self), From: proto.Uint64(self), Term: proto.Uint64(1), Index: proto.Uint64(5)},
		{Type: raftpb.MessageType_MsgSnap.Enum(), To: proto.Uint64(self), From: proto.Uint64(7), Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(3)}}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b, []byte("DRVRSNP1"))
	}
	r := &rpcServer{s: s}
	f.Fuzz(func(t *testing.T, msg, chunk []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = r.Raft(&fakeStream[structs.RaftMessage]{ctx: ctx, msgs: []*structs.RaftMessage{{Data: msg, FromAddr: "127.0.0.1:1"}}})
		_ = r.InstallSnapshot(&fakeStream[structs.SnapshotChunk]{ctx: ctx, msgs: []*structs.SnapshotChunk{{Message: msg}, {Data: chunk}}})
		if err := s.Err(); err != nil {
			t.Fatalf("a message from outside the peer set stopped the server: %v", err)
		}
	})
}
