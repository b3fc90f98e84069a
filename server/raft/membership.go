package raft

import (
	"context"
	"fmt"
	"time"

	etcdraft "go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// AddPeer changes the raft peer set on the leader: it adds peer (as a
// voter, or a learner if it is non-voting), updates its address and name,
// or, with promote, makes a learner a voter. It returns once the change is
// applied here. An id that was removed can never come back; a name may
// belong to one server only.
func (rn *Node) AddPeer(ctx context.Context, peer *structs.RaftPeer, promote bool) error {
	ps := rn.peers
	if ps.IsRemoved(peer.Id) {
		return fmt.Errorf("%w: raft id %x was removed from the cluster and cannot come back; start the server with an empty data dir", structs.ErrBadRequest, peer.Id)
	}
	existing := ps.Get(peer.Id)
	var cc *raftpb.ConfChange
	var done func() bool
	switch {
	case promote:
		if existing == nil {
			return fmt.Errorf("%w: server %x", structs.ErrNotFound, peer.Id)
		}
		if existing.Voter {
			return nil
		}
		cc = &raftpb.ConfChange{Type: raftpb.ConfChangeType_ConfChangeAddNode.Enum(), NodeId: proto.Uint64(peer.Id)}
		done = func() bool { p := ps.Get(peer.Id); return p != nil && p.Voter }
	case existing != nil:
		if existing.Addr == peer.Addr && existing.Name == peer.Name {
			return nil
		}
		upd := proto.CloneOf(existing)
		upd.Addr, upd.Name, upd.Datacenter = peer.Addr, peer.Name, peer.Datacenter
		cc = &raftpb.ConfChange{Type: raftpb.ConfChangeType_ConfChangeUpdateNode.Enum(), NodeId: proto.Uint64(peer.Id), Context: encodePeer(upd)}
		done = func() bool { p := ps.Get(peer.Id); return p != nil && p.Addr == peer.Addr && p.Name == peer.Name }
	default:
		if other := ps.ByName(peer.Name); other != nil {
			return fmt.Errorf("%w: a server named %q is already in the cluster (raft id %x); remove it first", structs.ErrBadRequest, peer.Name, other.Id)
		}
		typ := raftpb.ConfChangeType_ConfChangeAddNode
		if !peer.Voter {
			typ = raftpb.ConfChangeType_ConfChangeAddLearnerNode
		}
		cc = &raftpb.ConfChange{Type: typ.Enum(), NodeId: proto.Uint64(peer.Id), Context: encodePeer(peer)}
		done = func() bool { return ps.Get(peer.Id) != nil }
	}
	rn.cfg.Logger.Info("changing the raft peer set", "change", cc.GetType().String(), "server", peer.Name, "id", fmt.Sprintf("%x", peer.Id), "addr", peer.Addr)
	return rn.changeMembership(ctx, cc, done)
}

// RemovePeer removes the server with raft id id from the peer set, on the
// leader, and returns once the change is applied here. Its id can never be
// used again. The last voter cannot be removed.
func (rn *Node) RemovePeer(ctx context.Context, id uint64) error {
	ps := rn.peers
	p := ps.Get(id)
	if p == nil {
		if ps.IsRemoved(id) {
			return nil
		}
		return fmt.Errorf("%w: server %x", structs.ErrNotFound, id)
	}
	voters := 0
	for _, q := range ps.List() {
		if q.Voter {
			voters++
		}
	}
	if p.Voter && voters == 1 {
		return fmt.Errorf("%w: %s is the last voting server", structs.ErrBadRequest, p.Name)
	}
	rn.cfg.Logger.Info("removing a server from the raft peer set", "server", p.Name, "id", fmt.Sprintf("%x", id))
	cc := &raftpb.ConfChange{Type: raftpb.ConfChangeType_ConfChangeRemoveNode.Enum(), NodeId: proto.Uint64(id)}
	return rn.changeMembership(ctx, cc, func() bool { return ps.Get(id) == nil })
}

// TransferLeadership hands this leader's leadership to the most
// up-to-date of voters and waits, up to three election timeouts, until it
// has moved.
func (rn *Node) TransferLeadership(ctx context.Context, voters []*structs.RaftPeer) {
	st, err := rn.status(ctx)
	if err != nil {
		return
	}
	var best uint64
	var match uint64
	for _, p := range voters {
		if pr, ok := st.Progress[p.Id]; ok && (best == 0 || pr.Match > match) {
			best, match = p.Id, pr.Match
		}
	}
	if best == 0 {
		return
	}
	select {
	case rn.xferc <- best:
	default:
	}
	wctx, cancel := context.WithTimeout(ctx, 3*rn.cfg.BaseTick*time.Duration(rn.cfg.ElectionTicks))
	defer cancel()
	for rn.IsLeader() {
		select {
		case <-rn.LeaderChanged():
		case <-wctx.Done():
			rn.cfg.Logger.Warn("leadership transfer did not complete in time")
			return
		}
	}
}

// LocalConfiguration lists the peer set as this server sees it, with
// roles and term but without the leader's replication indexes.
func (rn *Node) LocalConfiguration() *structs.RaftConfigurationResponse {
	lead := rn.leaderID.Load()
	resp := &structs.RaftConfigurationResponse{Index: rn.applied.Load()}
	for _, p := range rn.peers.List() {
		resp.Servers = append(resp.Servers, &structs.RaftServer{
			Peer: p, Leader: p.Id == lead, Role: roleOf(p, lead), Term: rn.term.Load(),
		})
	}
	return resp
}

// LeaderConfiguration lists the peer set as the leader sees it: each
// server's role, the last index known to be on it and when the leader last
// heard from it. It fails with structs.ErrNotLeader elsewhere.
func (rn *Node) LeaderConfiguration(ctx context.Context) (*structs.RaftConfigurationResponse, error) {
	st, err := rn.status(ctx)
	if err != nil {
		return nil, err
	}
	if st.RaftState != etcdraft.StateLeader {
		return nil, structs.ErrNotLeader
	}
	resp := &structs.RaftConfigurationResponse{Index: st.Applied}
	now := rn.cfg.Clock.Now()
	for _, p := range rn.peers.List() {
		rs := &structs.RaftServer{Peer: p, Leader: p.Id == st.Lead, Role: roleOf(p, st.Lead), Term: st.GetTerm()}
		if pr, ok := st.Progress[p.Id]; ok {
			rs.LastIndex = pr.Match
		}
		if p.Id != rn.cfg.ID {
			if t := rn.heardFrom(p.Id); !t.IsZero() {
				rs.LastContactMs = now.Sub(t).Milliseconds()
			}
		}
		resp.Servers = append(resp.Servers, rs)
	}
	return resp, nil
}

func roleOf(p *structs.RaftPeer, lead uint64) string {
	switch {
	case p.Id == lead:
		return "leader"
	case !p.Voter:
		return "learner"
	}
	return "follower"
}

// changeMembership proposes cc until done reports that the peer set shows
// it, or ctx ends. Raft silently ignores a change proposed while another is
// pending, so the proposal is repeated.
func (rn *Node) changeMembership(ctx context.Context, cc *raftpb.ConfChange, done func() bool) error {
	if !rn.leaderReady.Load() {
		return structs.ErrNotLeader
	}
	ctx, cancel := context.WithTimeout(ctx, rn.cfg.ProposeTimeout)
	defer cancel()
	retry := rn.cfg.Clock.NewTicker(rn.cfg.BaseTick * time.Duration(rn.cfg.ElectionTicks))
	defer retry.Stop()
	for {
		if done() {
			return nil
		}
		if !rn.leader.Load() {
			return structs.ErrLeadershipLost
		}
		rn.notifyMu.Lock()
		applied := rn.appliedCh
		rn.notifyMu.Unlock()
		select {
		case rn.confc <- cc:
		case <-ctx.Done():
			return fmt.Errorf("membership change not applied: %w", ctx.Err())
		case <-rn.donec:
			return rn.stoppedErr()
		}
		for wait := true; wait; {
			select {
			case <-applied:
				if done() {
					return nil
				}
				rn.notifyMu.Lock()
				applied = rn.appliedCh
				rn.notifyMu.Unlock()
			case <-retry.C():
				wait = false
			case <-ctx.Done():
				return fmt.Errorf("membership change not applied: %w", ctx.Err())
			case <-rn.donec:
				return rn.stoppedErr()
			}
		}
	}
}
