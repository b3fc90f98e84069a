package raft

import (
	"context"
	"errors"
	"fmt"
	"io"

	etcdraft "go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/droverhq/drover/server/statestream"
	"github.com/droverhq/drover/structs"
)

// Step hands a message a peer sent from fromAddr to raft. Only the peers
// of the set speak raft to this server (a server still joining, with no
// set yet, hears from whoever leads); anything else is refused with
// structs.ErrBadRequest.
func (rn *Node) Step(ctx context.Context, m *raftpb.Message, fromAddr string) error {
	if !rn.started.Load() {
		return fmt.Errorf("%w: raft is not started yet", errUnreachable)
	}
	if m.GetTo() != rn.cfg.ID {
		return fmt.Errorf("%w: raft message for %x reached server %x", structs.ErrBadRequest, m.GetTo(), rn.cfg.ID)
	}
	if from := m.GetFrom(); from == 0 || from == rn.cfg.ID || (rn.peers.Len() > 0 && rn.peers.Get(from) == nil) {
		return fmt.Errorf("%w: raft message from %x, not a peer of server %x", structs.ErrBadRequest, from, rn.cfg.ID)
	}
	rn.transport.learn(m.GetFrom(), fromAddr)
	now := rn.cfg.Clock.Now().UnixNano()
	rn.heard.Store(m.GetFrom(), now)
	if m.GetFrom() == rn.leaderID.Load() {
		rn.lastContact.Store(now)
	}
	select {
	case rn.recvc <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-rn.donec:
		return rn.stoppedErr()
	}
}

// ReceiveSnapshot takes a raft snapshot the leader streams to this server:
// m is its MsgSnap without data, next returns the stream's chunks until
// io.EOF. The stream is written to the snapshot store and checked whole
// before raft sees the message; anything malformed is refused with
// structs.ErrBadRequest.
func (rn *Node) ReceiveSnapshot(ctx context.Context, m *raftpb.Message, fromAddr string, next func() ([]byte, error)) error {
	meta := m.GetSnapshot().GetMetadata()
	if m.GetType() != raftpb.MessageType_MsgSnap || meta.GetIndex() == 0 {
		return fmt.Errorf("%w: InstallSnapshot carries a snapshot message", structs.ErrBadRequest)
	}
	sink, err := rn.snaps.Create(meta.GetIndex(), meta.GetTerm())
	if err != nil {
		return err
	}
	for {
		chunk, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			_, err = sink.Write(chunk)
		}
		if err != nil {
			sink.Abort()
			return err
		}
	}
	data, err := sink.Commit()
	if err != nil {
		return err
	}
	if err := rn.checkSnapshot(data, meta.GetIndex()); err != nil {
		return err
	}
	m.Snapshot.Data = data
	if err := rn.Step(ctx, m, fromAddr); err != nil {
		return err
	}
	rn.cfg.Logger.Info("raft snapshot received", "index", meta.GetIndex(), "from", fmt.Sprintf("%x", m.GetFrom()))
	return nil
}

// checkSnapshot verifies a received snapshot's stream end to end.
func (rn *Node) checkSnapshot(data []byte, index uint64) error {
	rc, err := rn.snaps.Open(data)
	if err != nil {
		return err
	}
	defer rc.Close()
	hdr, err := statestream.Verify(rc)
	if err != nil {
		return fmt.Errorf("%w: %w", structs.ErrBadRequest, err)
	}
	if hdr.Index != index {
		return fmt.Errorf("%w: snapshot holds index %d, message says %d", structs.ErrBadRequest, hdr.Index, index)
	}
	return nil
}

// reporter passes the transport's delivery reports to the raft goroutine.
type reporter struct{ rn *Node }

func (r reporter) ReportUnreachable(id uint64) {
	select {
	case r.rn.reportc <- func(n *etcdraft.RawNode) { n.ReportUnreachable(id) }:
	default:
	}
}

func (r reporter) ReportSnapshot(id uint64, status etcdraft.SnapshotStatus) {
	// A lost snapshot report leaves the follower stuck: this one waits.
	select {
	case r.rn.reportc <- func(n *etcdraft.RawNode) { n.ReportSnapshot(id, status) }:
	case <-r.rn.stopc:
	}
}

func readID(rctx []byte) uint64 {
	var id uint64
	for _, b := range rctx {
		id = id<<8 | uint64(b)
	}
	return id
}

func readCtx(id uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(id)
		id >>= 8
	}
	return b
}
