package server

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/droverhq/drover/server/raft"
	"github.com/droverhq/drover/structs"
)

// discoveryInterval is how often a server without raft state asks its
// peers about themselves until it bootstraps or joins.
const discoveryInterval = 250 * time.Millisecond

// joinOrBootstrap runs while a server has no raft state. It asks the
// servers of Join about themselves and then:
//   - if one of them is part of a cluster that lists this server, starts
//     empty and waits for the leader's log;
//   - if one of them is part of a cluster that does not, starts empty and
//     asks that cluster to add it;
//   - if BootstrapExpect voting servers of the region, none with state,
//     agree on their expectation and are seen twice in a row, bootstraps a
//     new cluster with exactly them.
//
// Servers whose BootstrapExpect differs are reported and never bootstrapped
// with. A non-voting server never bootstraps.
func (s *Server) joinOrBootstrap() {
	ctx := s.stopCtx
	var (
		last     []uint64
		reported = map[string]bool{}
		joining  string
	)
	tick := s.cfg.Clock.NewTicker(discoveryInterval)
	defer tick.Stop()
	for {
		if joining != "" {
			if s.raft.Peers().Get(s.self.Id) != nil {
				return
			}
			if err := s.askToJoin(ctx, joining); err != nil {
				s.logger.Debug("join request failed", "via", joining, "error", err)
			}
		} else {
			infos := s.probePeers(ctx)
			d := s.decide(infos, reported, &last)
			switch d.mode {
			case decideBootstrap:
				if err := s.startRaft(raft.StartBootstrap, d.peers); err != nil {
					s.failStart(err)
				}
				return
			case decideJoinKnown:
				s.logger.Info("joining the cluster that lists this server", "via", d.via)
				if err := s.startRaft(raft.StartJoin, nil); err != nil {
					s.failStart(err)
				}
				return
			case decideJoinAsk:
				s.logger.Info("joining an existing cluster", "via", d.via)
				if err := s.startRaft(raft.StartJoin, nil); err != nil {
					s.failStart(err)
					return
				}
				joining = d.via
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		}
	}
}

// failStart stops a server that could not start raft.
func (s *Server) failStart(err error) {
	if s.stopCtx.Err() != nil {
		return
	}
	s.logger.Error("server could not start raft", "error", err)
	s.setErr(err)
	go s.Shutdown(context.Background())
}

type decideMode int

const (
	decideWait decideMode = iota
	decideBootstrap
	decideJoinKnown
	decideJoinAsk
)

type decision struct {
	mode  decideMode
	peers []*structs.RaftPeer
	via   string
}

// decide chooses what to do from what the peers said; last holds the ids
// of the previous round's bootstrap candidates.
func (s *Server) decide(infos []*structs.ServerInfoResponse, reported map[string]bool, last *[]uint64) decision {
	for _, in := range infos {
		if len(in.Peers) == 0 {
			continue
		}
		for _, p := range in.Peers {
			if p.Id == s.self.Id {
				return decision{mode: decideJoinKnown, via: in.Self.Addr}
			}
		}
		return decision{mode: decideJoinAsk, via: in.Self.Addr}
	}
	if s.cfg.NonVoting {
		return decision{}
	}
	candidates := []*structs.RaftPeer{s.self}
	mismatch := false
	for _, in := range infos {
		if in.NonVoting || !in.Self.Voter || in.HasState {
			continue
		}
		if int(in.BootstrapExpect) != s.cfg.BootstrapExpect {
			mismatch = true
			key := fmt.Sprintf("%x/%d", in.Self.Id, in.BootstrapExpect)
			if !reported[key] {
				reported[key] = true
				s.logger.Error("peer expects a different number of servers; not bootstrapping with it",
					"peer", in.Self.Name, "addr", in.Self.Addr, "peer_bootstrap_expect", in.BootstrapExpect,
					"bootstrap_expect", s.cfg.BootstrapExpect)
			}
			continue
		}
		candidates = append(candidates, in.Self)
	}
	if mismatch || len(candidates) < s.cfg.BootstrapExpect {
		*last = nil
		return decision{}
	}
	slices.SortFunc(candidates, func(a, b *structs.RaftPeer) int { return cmp.Compare(a.Id, b.Id) })
	ids := make([]uint64, len(candidates))
	for i, c := range candidates {
		ids[i] = c.Id
	}
	// Bootstrap only once the same servers were seen twice in a row.
	if !slices.Equal(ids, *last) {
		*last = ids
		return decision{}
	}
	return decision{mode: decideBootstrap, peers: candidates}
}

// probePeers asks every server of Join about itself, in parallel; servers
// that do not answer, this server itself and servers of other regions are
// left out.
func (s *Server) probePeers(ctx context.Context) []*structs.ServerInfoResponse {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		infos []*structs.ServerInfoResponse
	)
	for _, addr := range s.probeAddrs() {
		if addr == s.self.Addr {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.pool.ready(ctx, addr)
			if err != nil {
				return
			}
			in, err := c.ServerInfo(ctx, &structs.ServerInfoRequest{Self: s.self})
			if err != nil || in.GetSelf().GetId() == 0 || in.Self.Id == s.self.Id || in.Self.Region != s.cfg.Region {
				return
			}
			mu.Lock()
			infos = append(infos, in)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.SortFunc(infos, func(a, b *structs.ServerInfoResponse) int { return cmp.Compare(a.Self.Id, b.Self.Id) })
	return infos
}

// probeAddrs is where the servers to ask are: the RPC addresses of this
// region's servers in the gossip pool, the static peers, and the servers
// that asked this one about itself (discovery works both ways even when
// only one side lists the other).
func (s *Server) probeAddrs() []string {
	addrs := slices.Clone(s.cfg.StaticPeers)
	if s.gossip != nil {
		for _, m := range s.gossip.servers(s.cfg.Region) {
			if m.status == serf.StatusAlive && !slices.Contains(addrs, m.rpcAddr) {
				addrs = append(addrs, m.rpcAddr)
			}
		}
	}
	s.discoverMu.Lock()
	defer s.discoverMu.Unlock()
	for a := range s.discovered {
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// sawPeer records a server of this region that asked about this one.
func (s *Server) sawPeer(p *structs.RaftPeer) {
	if p.GetAddr() == "" || p.GetId() == s.self.Id || p.GetRegion() != s.cfg.Region {
		return
	}
	s.discoverMu.Lock()
	defer s.discoverMu.Unlock()
	if s.discovered == nil {
		s.discovered = map[string]bool{}
	}
	if len(s.discovered) < 64 {
		s.discovered[p.Addr] = true
	}
}

// askToJoin asks the cluster, through the server at via, to add this server.
func (s *Server) askToJoin(ctx context.Context, via string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.leaderWait())
	defer cancel()
	c, err := s.pool.ready(ctx, via)
	if err != nil {
		return err
	}
	_, err = c.AddRaftPeer(ctx, &structs.AddRaftPeerRequest{Peer: s.self})
	return err
}

// serverInfo is what this server tells a peer about itself.
func (s *Server) serverInfo() *structs.ServerInfoResponse {
	in := &structs.ServerInfoResponse{
		Self:            s.self,
		BootstrapExpect: int32(s.cfg.BootstrapExpect),
		HasState:        s.raft.Started(),
		LeaderAddr:      s.leaderAddr(),
		NonVoting:       s.cfg.NonVoting,
	}
	if s.raft.Started() {
		in.Peers = s.raft.Peers().List()
	}
	return in
}
