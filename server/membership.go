package server

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/structs"
)

// RaftServer is one server of the raft configuration, as the leader sees it.
type RaftServer struct {
	// ID is the server's raft id, never reused.
	ID uint64
	// Name is the server's name.
	Name string
	// Addr is the server's RPC address.
	Addr string
	// Region and Datacenter are where the server runs.
	Region, Datacenter string
	// Voter is false for a non-voting server (a raft learner).
	Voter bool
	// Leader is true for the current leader.
	Leader bool
	// Role is "leader", "follower" or "learner" (non-voting).
	Role string
	// Term is the leader's current raft term.
	Term uint64
	// LastIndex is the last log index the leader knows to be on the server.
	LastIndex uint64
	// LastContact is how long ago the leader heard from the server; zero
	// for the leader itself.
	LastContact time.Duration
}

// RaftConfiguration lists the servers of the raft peer set with each one's
// role, term and last log index (the `nomad operator raft list-peers`
// equivalent). It asks the leader; under AllowStale it answers from this
// server's own view, without indexes.
func (s *Server) RaftConfiguration(ctx context.Context) ([]RaftServer, error) {
	if err := s.allow(ctx, "operator read", (*acl.ACL).AllowOperatorRead); err != nil {
		return nil, err
	}
	var resp *structs.RaftConfigurationResponse
	var err error
	if isStale(ctx) {
		resp = s.raft.LocalConfiguration()
	} else {
		err = s.leaderCall(ctx, func(ctx context.Context) error {
			resp, err = s.raft.LeaderConfiguration(ctx)
			return err
		}, func(ctx context.Context, c structs.DroverClient) error {
			resp, err = c.RaftConfiguration(ctx, &structs.RaftConfigurationRequest{})
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	out := make([]RaftServer, 0, len(resp.Servers))
	for _, rs := range resp.Servers {
		p := rs.GetPeer()
		out = append(out, RaftServer{
			ID: p.GetId(), Name: p.GetName(), Addr: p.GetAddr(), Region: p.GetRegion(), Datacenter: p.GetDatacenter(),
			Voter: p.GetVoter(), Leader: rs.Leader, Role: rs.Role, Term: rs.Term, LastIndex: rs.LastIndex,
			LastContact: time.Duration(rs.LastContactMs) * time.Millisecond,
		})
	}
	return out, nil
}

// Peers returns the RPC addresses of every server of the raft peer set.
func (s *Server) Peers() []string { return slices.Clone(s.raft.Peers().Addrs()) }

// addPeer adds a server to the raft peer set (as a voter, or a learner if
// it is non-voting), updates its address, or promotes a learner.
func (s *Server) addPeer(ctx context.Context, peer *structs.RaftPeer, promote bool) error {
	if peer.GetId() == 0 || (!promote && peer.GetAddr() == "") {
		return fmt.Errorf("%w: a server to add needs a raft id and an address", ErrBadRequest)
	}
	if !promote && peer.Region != s.cfg.Region {
		return fmt.Errorf("%w: server %s is in region %q, this cluster is %q", ErrBadRequest, peer.Name, peer.Region, s.cfg.Region)
	}
	return s.leaderCall(ctx, func(ctx context.Context) error {
		return s.raft.AddPeer(ctx, peer, promote)
	}, func(ctx context.Context, c structs.DroverClient) error {
		_, err := c.AddRaftPeer(ctx, &structs.AddRaftPeerRequest{Peer: peer, Promote: promote})
		return err
	})
}

// PromoteServer makes a non-voting server, named by name or hex raft id, a
// voter.
func (s *Server) PromoteServer(ctx context.Context, nameOrID string) error {
	if err := s.allow(ctx, "operator write", (*acl.ACL).AllowOperatorWrite); err != nil {
		return err
	}
	p, err := s.findPeer(nameOrID)
	if err != nil {
		return err
	}
	return s.addPeer(ctx, &structs.RaftPeer{Id: p.Id}, true)
}

// RemoveServer removes a server, named by name or hex raft id, from the
// raft peer set: the `nomad operator raft remove-peer` (and, for a failed
// server, `force-leave`) equivalent. Its raft id can never be used again.
// Removing servers until fewer than a quorum of the old set remain is
// refused only by arithmetic: raft needs the change itself committed.
func (s *Server) RemoveServer(ctx context.Context, nameOrID string) error {
	if err := s.allow(ctx, "operator write", (*acl.ACL).AllowOperatorWrite); err != nil {
		return err
	}
	p, err := s.findPeer(nameOrID)
	if err != nil {
		return err
	}
	return s.removePeer(ctx, p.Id)
}

func (s *Server) findPeer(nameOrID string) (*structs.RaftPeer, error) {
	if p := s.raft.Peers().ByName(nameOrID); p != nil {
		return p, nil
	}
	if id, err := strconv.ParseUint(nameOrID, 16, 64); err == nil {
		if p := s.raft.Peers().Get(id); p != nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: no server %q in the raft peer set", ErrNotFound, nameOrID)
}

func (s *Server) removePeer(ctx context.Context, id uint64) error {
	return s.leaderCall(ctx, func(ctx context.Context) error {
		return s.raft.RemovePeer(ctx, id)
	}, func(ctx context.Context, c structs.DroverClient) error {
		_, err := c.RemoveRaftPeer(ctx, &structs.RemoveRaftPeerRequest{Id: id})
		return err
	})
}

// Leave leaves the cluster gracefully and shuts the server down: a leader
// first hands leadership to another voter, then the server asks to be
// removed from the raft peer set, so the others never count it toward a
// quorum again, and then announces its leave to the gossip pool. Restarted
// on the same data, it stays out unless RejoinAfterLeave is set. A server
// that is the only voter just shuts down.
func (s *Server) Leave(ctx context.Context) error {
	if err := s.allow(ctx, "agent write", (*acl.ACL).AllowAgentWrite); err != nil {
		return err
	}
	if s.raft.Started() && s.raft.Peers().Get(s.self.Id) != nil {
		if err := s.leave(ctx); err != nil {
			return err
		}
	}
	if err := markLeft(s.meta, true); err != nil {
		s.logger.Warn("recording the leave failed", "error", err)
	}
	if s.gossip != nil {
		if err := s.gossip.serf.Leave(); err != nil {
			s.logger.Warn("announcing the leave to the gossip pool failed", "error", err)
		}
	}
	return s.Shutdown(ctx)
}

func (s *Server) leave(ctx context.Context) error {
	var others []*structs.RaftPeer
	for _, p := range s.raft.Peers().List() {
		if p.Voter && p.Id != s.self.Id {
			others = append(others, p)
		}
	}
	if s.self.Voter && len(others) == 0 {
		s.logger.Warn("leaving as the last voting server: the cluster stops with it")
		return nil
	}
	if s.raft.IsLeader() {
		s.raft.TransferLeadership(ctx, others)
	}
	s.logger.Info("leaving the cluster")
	if err := s.removePeer(ctx, s.self.Id); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	return nil
}
