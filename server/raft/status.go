package raft

import (
	"context"
	"time"

	"github.com/droverhq/drover/structs"
	etcdraft "go.etcd.io/raft/v3"
)

// Started reports whether Start has run: the server bootstrapped, joined
// or restarted with raft state.
func (rn *Node) Started() bool { return rn.started.Load() }

// IsLeader reports whether this server currently leads.
func (rn *Node) IsLeader() bool { return rn.leader.Load() }

// LeaderReady reports whether this server leads and has applied an entry
// of its own term, so its state holds everything committed before it led:
// only then may it decide anything on that state.
func (rn *Node) LeaderReady() bool { return rn.leaderReady.Load() }

// LeaderID is the raft id of the leader this server knows, or 0.
func (rn *Node) LeaderID() uint64 { return rn.leaderID.Load() }

// LeaderAddr is the RPC address of the leader this server knows, or "":
// from the peer set, or, for a server still joining, from the leader's
// messages.
func (rn *Node) LeaderAddr() string {
	lead := rn.leaderID.Load()
	if lead == 0 {
		return ""
	}
	if lead == rn.cfg.ID {
		return rn.cfg.Self.GetAddr()
	}
	if p := rn.peers.Get(lead); p != nil {
		return p.Addr
	}
	return rn.transport.learnedAddr(lead)
}

// LeaderChanged returns a channel closed at the next change of leader.
func (rn *Node) LeaderChanged() <-chan struct{} {
	rn.notifyMu.Lock()
	defer rn.notifyMu.Unlock()
	return rn.leaderCh
}

// Term is the current raft term as this server knows it.
func (rn *Node) Term() uint64 { return rn.term.Load() }

// Applied is the index of the last entry applied to the FSM.
func (rn *Node) Applied() uint64 { return rn.applied.Load() }

// LastContact is when this follower last heard from its leader; zero when
// it never did.
func (rn *Node) LastContact() time.Time {
	if t := rn.lastContact.Load(); t != 0 {
		return time.Unix(0, t)
	}
	return time.Time{}
}

// Peers is the raft peer set as the applied log describes it.
func (rn *Node) Peers() *PeerSet { return rn.peers }

// status returns raft's status, read on the raft goroutine.
func (rn *Node) status(ctx context.Context) (etcdraft.Status, error) {
	if !rn.started.Load() {
		return etcdraft.Status{}, structs.ErrNoLeader
	}
	ch := make(chan etcdraft.Status, 1)
	select {
	case rn.statusc <- ch:
	case <-ctx.Done():
		return etcdraft.Status{}, ctx.Err()
	case <-rn.donec:
		return etcdraft.Status{}, rn.stoppedErr()
	}
	select {
	case st := <-ch:
		return st, nil
	case <-rn.donec:
		return etcdraft.Status{}, rn.stoppedErr()
	}
}

// heardFrom returns when a message from peer id last arrived, or zero.
func (rn *Node) heardFrom(id uint64) time.Time {
	if v, ok := rn.heard.Load(id); ok {
		return time.Unix(0, v.(int64))
	}
	return time.Time{}
}
