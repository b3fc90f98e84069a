package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// Autopilot defaults, Nomad's.
const (
	defaultLastContactThreshold    = 200 * time.Millisecond
	defaultMaxTrailingLogs         = 250
	defaultServerStabilizationTime = 10 * time.Second
)

// AutopilotConfiguration returns the replicated autopilot configuration,
// or the defaults (with the server's DeadServerThreshold) while an
// operator has set none. It needs operator read.
func (s *Server) AutopilotConfiguration(ctx context.Context) (*structs.AutopilotConfiguration, error) {
	if err := s.allow(ctx, "operator read", (*acl.ACL).AllowOperatorRead); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	return s.autopilotConfig(), nil
}

// autopilotConfig is the configuration in force on this server.
func (s *Server) autopilotConfig() *structs.AutopilotConfiguration {
	if c := s.state.Snapshot().Autopilot(); c != nil {
		return c
	}
	return &structs.AutopilotConfiguration{
		CleanupDeadServers:      true,
		LastContactThreshold:    durationpb.New(defaultLastContactThreshold),
		MaxTrailingLogs:         defaultMaxTrailingLogs,
		ServerStabilizationTime: durationpb.New(defaultServerStabilizationTime),
		DeadServerThreshold:     durationpb.New(s.cfg.DeadServerThreshold),
	}
}

// deadServerCleanup says whether, and after how long, the leader removes
// failed servers: the replicated configuration wins once an operator set
// one; until then the server's DeadServerThreshold applies.
func (s *Server) deadServerCleanup() (bool, time.Duration) {
	c := s.state.Snapshot().Autopilot()
	if c == nil {
		return true, s.cfg.DeadServerThreshold
	}
	d := s.cfg.DeadServerThreshold
	if c.DeadServerThreshold != nil {
		d = c.DeadServerThreshold.AsDuration()
	}
	return c.CleanupDeadServers, d
}

// SetAutopilotConfiguration replaces the autopilot configuration through
// raft; with cas, only if its modify index is still casIndex. It needs
// operator write.
func (s *Server) SetAutopilotConfiguration(ctx context.Context, c *structs.AutopilotConfiguration, cas bool, casIndex uint64) (updated bool, index uint64, err error) {
	if err := s.allow(ctx, "operator write", (*acl.ACL).AllowOperatorWrite); err != nil {
		return false, 0, err
	}
	if c == nil {
		return false, 0, fmt.Errorf("%w: autopilot configuration is missing", ErrBadRequest)
	}
	for name, d := range map[string]*durationpb.Duration{
		"LastContactThreshold": c.LastContactThreshold, "ServerStabilizationTime": c.ServerStabilizationTime,
		"DeadServerThreshold": c.DeadServerThreshold,
	} {
		if d != nil && (d.CheckValid() != nil || d.AsDuration() < 0) {
			return false, 0, fmt.Errorf("%w: autopilot %s must be a non-negative duration", ErrBadRequest, name)
		}
	}
	c = proto.Clone(c).(*structs.AutopilotConfiguration)
	c.CreateIndex, c.ModifyIndex = 0, 0
	err = s.leaderCall(ctx, func(ctx context.Context) error {
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_AutopilotConfigSet{
			AutopilotConfigSet: &structs.AutopilotConfigSet{Config: c, Cas: cas, CasIndex: casIndex},
		}})
		switch {
		case errors.Is(err, errConfigCASMismatch):
			updated, index = false, s.state.Index()
			return nil
		case err != nil:
			return err
		}
		updated, index = true, idx
		return nil
	}, func(ctx context.Context, cl structs.DroverClient) error {
		resp, err := cl.SetAutopilotConfiguration(ctx, &structs.AutopilotSetConfigRequest{Config: c, Cas: cas, CasIndex: casIndex})
		updated, index = resp.GetUpdated(), resp.GetMeta().GetIndex()
		return err
	})
	return updated, index, err
}

// applyAutopilotConfig stores the autopilot configuration.
func applyAutopilotConfig(tx *state.Txn, index uint64, c *structs.AutopilotConfigSet) error {
	cur := tx.ClusterMeta().GetAutopilot()
	if c.Cas && cur.GetModifyIndex() != c.CasIndex {
		return errConfigCASMismatch
	}
	cfg := proto.Clone(c.GetConfig()).(*structs.AutopilotConfiguration)
	cfg.CreateIndex = index
	if cur != nil {
		cfg.CreateIndex = cur.CreateIndex
	}
	cfg.ModifyIndex = index
	tx.SetAutopilot(cfg)
	return nil
}

// ServerHealth is one server's health as autopilot judges it.
type ServerHealth struct {
	ID, Name, Address string
	// SerfStatus is the server's gossip status ("alive", "failed", ...).
	SerfStatus  string
	Version     string
	Leader      bool
	Voter       bool
	LastContact time.Duration
	LastTerm    uint64
	LastIndex   uint64
	Healthy     bool
	// StableSince is when the server last became healthy.
	StableSince time.Time
}

// OperatorHealth is the cluster's health (nomad operator autopilot health).
type OperatorHealth struct {
	// Healthy: every server is.
	Healthy bool
	// FailureTolerance is how many voters may fail with a quorum left.
	FailureTolerance int
	Servers          []ServerHealth
}

// autopilotState remembers when each server became healthy.
type autopilotState struct {
	mu          sync.Mutex
	stableSince map[uint64]time.Time
}

// AutopilotHealth judges each server of the raft peer set: alive in the
// gossip pool, heard from by the leader within the last-contact threshold
// and no more than max-trailing-logs behind it. It needs operator read.
func (s *Server) AutopilotHealth(ctx context.Context) (*OperatorHealth, error) {
	if err := s.allow(ctx, "operator read", (*acl.ACL).AllowOperatorRead); err != nil {
		return nil, err
	}
	peers, err := s.RaftConfiguration(ctx)
	if err != nil {
		return nil, err
	}
	cfg := s.autopilotConfig()
	serfStatus := map[uint64]string{}
	build := map[uint64]string{}
	if s.gossip != nil {
		for _, m := range s.gossip.serf.Members() {
			if sm, ok := parseMember(m); ok && sm.region == s.cfg.Region {
				serfStatus[sm.id], build[sm.id] = m.Status.String(), m.Tags[tagBuild]
			}
		}
	}
	var leaderIndex uint64
	for _, p := range peers {
		if p.Leader {
			leaderIndex = p.LastIndex
		}
	}
	now := s.cfg.Clock.Now()
	out := &OperatorHealth{Healthy: true}
	voters, healthyVoters := 0, 0
	s.autopilot.mu.Lock()
	defer s.autopilot.mu.Unlock()
	if s.autopilot.stableSince == nil {
		s.autopilot.stableSince = map[uint64]time.Time{}
	}
	for _, p := range peers {
		st := serfStatus[p.ID]
		if s.gossip == nil {
			st = serf.StatusAlive.String()
		}
		healthy := st == serf.StatusAlive.String() &&
			(p.Leader || p.LastContact <= cfg.GetLastContactThreshold().AsDuration()) &&
			(leaderIndex < p.LastIndex || leaderIndex-p.LastIndex <= cfg.GetMaxTrailingLogs())
		since, ok := s.autopilot.stableSince[p.ID]
		switch {
		case healthy && !ok:
			since = now
			s.autopilot.stableSince[p.ID] = now
		case !healthy:
			since = time.Time{}
			delete(s.autopilot.stableSince, p.ID)
		}
		out.Servers = append(out.Servers, ServerHealth{
			ID: strconv.FormatUint(p.ID, 16), Name: p.Name, Address: p.Addr, SerfStatus: st, Version: build[p.ID],
			Leader: p.Leader, Voter: p.Voter, LastContact: p.LastContact, LastTerm: p.Term, LastIndex: p.LastIndex,
			Healthy: healthy, StableSince: since,
		})
		if !healthy {
			out.Healthy = false
		}
		if p.Voter {
			voters++
			if healthy {
				healthyVoters++
			}
		}
	}
	out.FailureTolerance = max(healthyVoters-(voters/2+1), 0)
	return out, nil
}

// TransferLeadership hands the leadership to another voter (nomad operator
// raft transfer-leadership), named by hex raft id or RPC address; with
// neither, to the most up-to-date voter. It returns once the leadership
// moved, or fails after three election timeouts. It needs a management
// token.
func (s *Server) TransferLeadership(ctx context.Context, id, address string) error {
	if err := s.allowManagement(ctx); err != nil {
		return err
	}
	return s.leaderCall(ctx, func(ctx context.Context) error {
		return s.transferLeadershipLocal(ctx, id, address)
	}, func(ctx context.Context, c structs.DroverClient) error {
		_, err := c.TransferLeadership(ctx, &structs.TransferLeadershipRequest{Id: id, Address: address})
		return err
	})
}

func (s *Server) transferLeadershipLocal(ctx context.Context, id, address string) error {
	var target *structs.RaftPeer
	for _, p := range s.raft.Peers().List() {
		if (id != "" && strconv.FormatUint(p.Id, 16) == id) || (address != "" && p.Addr == address) {
			target = p
		}
	}
	switch {
	case id == "" && address == "":
		var voters []*structs.RaftPeer
		for _, p := range s.raft.Peers().List() {
			if p.Voter && p.Id != s.self.Id {
				voters = append(voters, p)
			}
		}
		if len(voters) == 0 {
			return fmt.Errorf("%w: no other voter to transfer leadership to", ErrBadRequest)
		}
		s.raft.TransferLeadership(ctx, voters)
	case target == nil:
		return fmt.Errorf("%w: no server %q in the raft peer set", ErrNotFound, id+address)
	case !target.Voter:
		return fmt.Errorf("%w: server %s is not a voter", ErrBadRequest, target.Name)
	case target.Id == s.self.Id:
		return nil // already the leader
	default:
		s.raft.TransferLeadership(ctx, []*structs.RaftPeer{target})
	}
	if s.raft.IsLeader() {
		return fmt.Errorf("leadership did not move within %s", 3*s.cfg.electionTimeout())
	}
	return nil
}
