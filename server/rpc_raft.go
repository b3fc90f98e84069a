package server

import (
	"errors"
	"fmt"
	"io"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
)

// Raft receives the stream of raft messages one peer sends this server.
// It ends when the peer closes it, when a message is malformed, or when
// the server shuts down.
func (r *rpcServer) Raft(stream structs.Drover_RaftServer) error {
	ctx := stream.Context()
	type recv struct {
		m   *structs.RaftMessage
		err error
	}
	msgs := make(chan recv)
	go func() {
		for {
			m, err := stream.Recv()
			select {
			case msgs <- recv{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		var in recv
		select {
		case in = <-msgs:
		case <-r.s.stopCtx.Done():
			return rpcerr.To(ErrShutdown)
		}
		if errors.Is(in.err, io.EOF) {
			return stream.SendAndClose(&structs.Empty{})
		}
		if in.err != nil {
			return in.err
		}
		m := &raftpb.Message{}
		if err := proto.Unmarshal(in.m.GetData(), m); err != nil {
			return rpcerr.To(fmt.Errorf("%w: raft message: %w", ErrBadRequest, err))
		}
		if m.GetType() == raftpb.MessageType_MsgSnap {
			return rpcerr.To(fmt.Errorf("%w: snapshots travel through InstallSnapshot", ErrBadRequest))
		}
		if err := r.s.raft.Step(ctx, m, in.m.GetFromAddr()); err != nil {
			return rpcerr.To(err)
		}
	}
}

// InstallSnapshot receives a raft snapshot the leader streams to this
// server: the MsgSnap first, then the stream's bytes, which the raft node
// writes to its snapshot store and checks whole before raft sees them.
func (r *rpcServer) InstallSnapshot(stream structs.Drover_InstallSnapshotServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(first.GetMessage(), m); err != nil {
		return rpcerr.To(fmt.Errorf("%w: snapshot message: %w", ErrBadRequest, err))
	}
	next := func() ([]byte, error) {
		c, err := stream.Recv()
		if err == nil && r.s.stopCtx.Err() != nil {
			err = ErrShutdown
		}
		return c.GetData(), err
	}
	if err := r.s.raft.ReceiveSnapshot(stream.Context(), m, first.GetFromAddr(), next); err != nil {
		return rpcerr.To(err)
	}
	return stream.SendAndClose(&structs.Empty{})
}
