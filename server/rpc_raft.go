package server

import (
	"errors"
	"fmt"
	"io"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/server/statestream"
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
		if err := r.s.raft.step(ctx, m, in.m.GetFromAddr()); err != nil {
			return rpcerr.To(err)
		}
	}
}

// InstallSnapshot receives a snapshot the leader streams to this server:
// the MsgSnap first, then the stream's bytes. The stream is written to the
// snapshot store and checked whole before raft sees the message.
func (r *rpcServer) InstallSnapshot(stream structs.Drover_InstallSnapshotServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(first.GetMessage(), m); err != nil {
		return rpcerr.To(fmt.Errorf("%w: snapshot message: %w", ErrBadRequest, err))
	}
	meta := m.GetSnapshot().GetMetadata()
	if m.GetType() != raftpb.MessageType_MsgSnap || meta.GetIndex() == 0 {
		return rpcerr.To(fmt.Errorf("%w: InstallSnapshot carries a snapshot message", ErrBadRequest))
	}
	rn := r.s.raft
	sink, err := rn.snaps.create(meta.GetIndex(), meta.GetTerm())
	if err != nil {
		return rpcerr.To(err)
	}
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil && r.s.stopCtx.Err() != nil {
			err = ErrShutdown
		}
		if err == nil {
			_, err = sink.Write(c.GetData())
		}
		if err != nil {
			sink.abort()
			return rpcerr.To(err)
		}
	}
	data, err := sink.commit()
	if err != nil {
		return rpcerr.To(err)
	}
	if err := r.checkSnapshot(data, meta.GetIndex()); err != nil {
		return rpcerr.To(err)
	}
	m.Snapshot.Data = data
	if err := rn.step(stream.Context(), m, first.GetFromAddr()); err != nil {
		return rpcerr.To(err)
	}
	rn.cfg.logger.Info("raft snapshot received", "index", meta.GetIndex(), "from", fmt.Sprintf("%x", m.GetFrom()))
	return stream.SendAndClose(&structs.Empty{})
}

// checkSnapshot verifies a received snapshot stream end to end.
func (r *rpcServer) checkSnapshot(data []byte, index uint64) error {
	rc, err := r.s.raft.snaps.open(data)
	if err != nil {
		return err
	}
	defer rc.Close()
	hdr, err := statestream.Verify(rc)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if hdr.Index != index {
		return fmt.Errorf("%w: snapshot holds index %d, message says %d", ErrBadRequest, hdr.Index, index)
	}
	return nil
}
