package server

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// status returns raft's status, read on the raft goroutine.
func (rn *raftNode) status(ctx context.Context) (raft.Status, error) {
	if !rn.started.Load() {
		return raft.Status{}, ErrNoLeader
	}
	ch := make(chan raft.Status, 1)
	select {
	case rn.statusc <- ch:
	case <-ctx.Done():
		return raft.Status{}, ctx.Err()
	case <-rn.donec:
		return raft.Status{}, rn.stoppedErr()
	}
	select {
	case st := <-ch:
		return st, nil
	case <-rn.donec:
		return raft.Status{}, rn.stoppedErr()
	}
}

// step hands a message from a peer to raft.
func (rn *raftNode) step(ctx context.Context, m *raftpb.Message, fromAddr string) error {
	if !rn.started.Load() {
		return fmt.Errorf("%w: raft is not started yet", errUnreachable)
	}
	if m.GetTo() != rn.cfg.id {
		return fmt.Errorf("%w: raft message for %x reached server %x", ErrBadRequest, m.GetTo(), rn.cfg.id)
	}
	// Only the peers of the set speak raft to this server; a server still
	// joining (no set yet) hears from whoever leads.
	if from := m.GetFrom(); from == 0 || from == rn.cfg.id || (rn.peers.len() > 0 && rn.peers.get(from) == nil) {
		return fmt.Errorf("%w: raft message from %x, not a peer of server %x", ErrBadRequest, from, rn.cfg.id)
	}
	rn.transport.learn(m.GetFrom(), fromAddr)
	now := time.Now().UnixNano()
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

// heardFrom returns when a message from peer id last arrived, or zero.
func (rn *raftNode) heardFrom(id uint64) time.Time {
	if v, ok := rn.heard.Load(id); ok {
		return time.Unix(0, v.(int64))
	}
	return time.Time{}
}

// transferLeadership asks raft to hand leadership to id.
func (rn *raftNode) transferLeadership(id uint64) {
	select {
	case rn.xferc <- id:
	default:
	}
}

// reporter passes the transport's delivery reports to the raft goroutine.
type reporter struct{ rn *raftNode }

func (r reporter) ReportUnreachable(id uint64) {
	select {
	case r.rn.reportc <- func(n *raft.RawNode) { n.ReportUnreachable(id) }:
	default:
	}
}

func (r reporter) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	// A lost snapshot report leaves the follower stuck: this one waits.
	select {
	case r.rn.reportc <- func(n *raft.RawNode) { n.ReportSnapshot(id, status) }:
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
