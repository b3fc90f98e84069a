package server

import (
	"context"
	"fmt"
	"time"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
	"github.com/hashicorp/serf/serf"
)

// reconcileInterval is how often the leader compares raft membership with
// the gossip pool even when no event says something changed.
const reconcileInterval = 5 * time.Second

// reconcileLoop runs on the leader: raft membership follows the servers of
// this region in the gossip pool. A server that joins is added, one that
// leaves is removed, and one that has been failed for DeadServerThreshold
// is removed too, unless removing it would leave too few healthy voters
// to commit anything.
func (s *Server) reconcileLoop(ctx context.Context) {
	if s.gossip == nil {
		return
	}
	tick := s.cfg.Clock.NewTicker(min(reconcileInterval, max(s.cfg.DeadServerThreshold/4, 100*time.Millisecond)))
	defer tick.Stop()
	for {
		s.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.gossip.changed:
		case <-tick.C():
		}
	}
}

func (s *Server) reconcile(ctx context.Context) {
	if !s.raft.LeaderReady() {
		return
	}
	members := s.gossip.servers(s.cfg.Region)
	ps := s.raft.Peers()
	for _, m := range members {
		if m.id == s.self.Id || ctx.Err() != nil {
			continue
		}
		switch m.status {
		case serf.StatusAlive:
			if ps.IsRemoved(m.id) {
				continue
			}
			want := m.peer()
			if old := ps.ByName(want.Name); old != nil && old.Id != m.id {
				// The same server came back with a new identity (an empty
				// data dir): its old one is gone for good.
				s.logger.Info("a server came back with a new raft id; removing the old one", "server", want.Name,
					"old", fmt.Sprintf("%x", old.Id), "new", fmt.Sprintf("%x", m.id))
				if err := s.raft.RemovePeer(ctx, old.Id); err != nil {
					s.logger.Warn("removing a replaced server failed", "server", want.Name, "error", err)
					continue
				}
			}
			if p := ps.Get(m.id); p == nil || p.Addr != want.Addr {
				if err := s.verifyGossipPeer(ctx, want); err != nil {
					s.logger.Warn("not adding a server of the gossip pool that does not prove it is one", "server", want.Name,
						"addr", want.Addr, "error", err)
					continue
				}
				if err := s.raft.AddPeer(ctx, want, false); err != nil {
					s.logger.Warn("adding a server from the gossip pool failed", "server", want.Name, "error", err)
				}
			}
		case serf.StatusLeft:
			if ps.Get(m.id) != nil {
				s.logger.Info("a server left the gossip pool; removing it from the raft peer set", "server", m.name)
				if err := s.raft.RemovePeer(ctx, m.id); err != nil {
					s.logger.Warn("removing a server that left failed", "server", m.name, "error", err)
				}
			}
		case serf.StatusFailed:
			cleanup, threshold := s.deadServerCleanup()
			if ps.Get(m.id) == nil || !cleanup || s.gossip.failedFor(m.name) < threshold {
				continue
			}
			if !s.canRemoveFailed(members) {
				s.logger.Warn("not removing a dead server: too few healthy voters would remain", "server", m.name)
				continue
			}
			s.logger.Warn("removing a server failed for longer than the dead-server threshold", "server", m.name,
				"threshold", threshold)
			if err := s.raft.RemovePeer(ctx, m.id); err != nil {
				s.logger.Warn("removing a dead server failed", "server", m.name, "error", err)
			}
		}
	}
}

// canRemoveFailed reports whether the voters that are alive are a quorum
// of the current voters, so the removal of a failed one can commit and
// leaves a cluster that still works.
func (s *Server) canRemoveFailed(members []serverMember) bool {
	status := map[uint64]serf.MemberStatus{}
	for _, m := range members {
		status[m.id] = m.status
	}
	voters, alive := 0, 0
	for _, p := range s.raft.Peers().List() {
		if !p.Voter {
			continue
		}
		voters++
		if p.Id == s.self.Id || status[p.Id] == serf.StatusAlive {
			alive++
		}
	}
	return alive >= voters/2+1
}

// verifyGossipPeer checks, with TLS on, that a server the gossip pool
// announces answers on its RPC address with a certificate fit for a
// server of this region (when verify_server_hostname is on) and with the
// raft id it announced, before it becomes a raft peer: gossip alone proves
// neither.
func (s *Server) verifyGossipPeer(ctx context.Context, p *structs.RaftPeer) error {
	if s.cfg.TLS == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := s.pool.ready(ctx, p.Addr)
	if err != nil {
		return err
	}
	info, err := c.ServerInfo(ctx, &structs.ServerInfoRequest{Self: s.self})
	if err != nil {
		return rpcerr.From(err)
	}
	if info.GetSelf().GetId() != p.Id {
		return fmt.Errorf("%w: %s answers with raft id %x, not %x", ErrPermissionDenied, p.Addr, info.GetSelf().GetId(), p.Id)
	}
	return nil
}
