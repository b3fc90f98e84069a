package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// Allocation reads one allocation.
func (s *Server) Allocation(ctx context.Context, id string) (*structs.Allocation, error) {
	if _, err := s.authorize(ctx); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	var a *structs.Allocation
	s.state.View(func(v *state.Snapshot) { a = v.Alloc(id) })
	if a != nil {
		// The allocation's own namespace decides, never the caller's.
		if err := s.allowNamespace(ctx, a.Namespace, acl.NamespaceCapabilityReadJob); err != nil {
			return nil, err
		}
		return a, nil
	}
	return nil, fmt.Errorf("%w: allocation %s", ErrNotFound, structs.Quote(id))
}

// Node reads one node, without its secret id.
func (s *Server) Node(ctx context.Context, id string) (*structs.Node, error) {
	if err := s.allow(ctx, "node read", (*acl.ACL).AllowNodeRead); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	if n := s.node(id); n != nil {
		return redactNode(n), nil
	}
	return nil, fmt.Errorf("%w: node %s", ErrNotFound, structs.Quote(id))
}

// ListEvaluations lists the evaluations of a namespace ("" for all) whose
// id starts with prefix, sorted by id.
func (s *Server) ListEvaluations(ctx context.Context, namespace, prefix string) ([]*structs.Evaluation, error) {
	a, err := s.authorizeList(ctx, namespace, acl.NamespaceCapabilityReadJob)
	if err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	var out []*structs.Evaluation
	for _, e := range s.state.Snapshot().Evals() {
		if (namespace == "" || e.Namespace == namespace) && strings.HasPrefix(e.Id, prefix) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Id < out[k].Id })
	return visible(a, acl.NamespaceCapabilityReadJob, out), nil
}

// Name is the server's name among its peers.
func (s *Server) Name() string { return s.cfg.Name }

// Region is the region the server belongs to.
func (s *Server) Region() string { return s.cfg.Region }

// Datacenter is the datacenter the server runs in.
func (s *Server) Datacenter() string { return s.cfg.Datacenter }

// KnownLeader reports whether the server knows a cluster leader.
func (s *Server) KnownLeader() bool { return s.raft.LeaderID() != 0 }

// AdvertiseAddr is the RPC address other servers and clients are told to
// use (Addr is the one the listener is bound to).
func (s *Server) AdvertiseAddr() string { return s.self.Addr }

// RaftState returns the server's current raft term and last applied index.
func (s *Server) RaftState() (term, applied uint64) {
	return s.raft.Term(), s.raft.Applied()
}

// RaftConfigurationIndex is the raft index at which the peer set last
// changed (through a configuration change or a snapshot).
func (s *Server) RaftConfigurationIndex() uint64 { return s.raft.Peers().Index() }

// LeaderAddr is the RPC address of the cluster leader, or "" when none is
// known.
func (s *Server) LeaderAddr() string { return s.leaderAddr() }

// LastContact is how long ago this server last heard from the leader: zero
// on the leader itself, and when no leader is known.
func (s *Server) LastContact() time.Duration {
	return time.Duration(s.queryMeta(0).LastContactMs) * time.Millisecond
}

// ConsistentRead waits until this server has applied every write
// acknowledged before the call (raft ReadIndex through the leader) and
// returns a context under which this server's reads answer from its local
// state without waiting again. Without a quorum it fails with ErrNoLeader
// after the leader wait. A ctx that already allows stale reads is
// returned as it is.
func (s *Server) ConsistentRead(ctx context.Context) (context.Context, error) {
	if err := s.readBarrier(ctx); err != nil {
		return ctx, err
	}
	return AllowStale(ctx), nil
}
