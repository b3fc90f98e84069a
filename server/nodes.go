package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// RegisterNode records a client node as ready and starts its heartbeat TTL.
// A node id already registered with another secret is refused, and so is
// a node of another region (one that names none is recorded in this one).
func (s *Server) RegisterNode(ctx context.Context, node *structs.Node) (*structs.NodeUpdateResponse, error) {
	if node == nil || node.Id == "" || node.SecretId == "" || node.Name == "" {
		return nil, fmt.Errorf("%w: node id, secret id and name are required", ErrBadRequest)
	}
	if node.Region != "" && node.Region != s.cfg.Region {
		s.logger.Warn("refused a node of another region", "node", node.Id, "node_region", structs.Quote(node.Region))
		return nil, fmt.Errorf("%w: node %s belongs to region %s; this server serves region %q",
			ErrPermissionDenied, structs.Quote(node.Id), structs.Quote(node.Region), s.cfg.Region)
	}
	var resp *structs.NodeUpdateResponse
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		if old := s.node(node.Id); old != nil && old.SecretId != node.SecretId {
			return fmt.Errorf("%w: node %s is registered with another secret", ErrPermissionDenied, node.Id)
		}
		n := proto.Clone(node).(*structs.Node)
		n.Region = s.cfg.Region
		n.Status = structs.NodeStatusReady
		n.StatusDescription = ""
		n.CreateIndex, n.ModifyIndex = 0, 0
		// Drains and eligibility are the servers' to set: a client
		// registering again (with changed facts, or after a restart) keeps
		// what it had.
		n.DrainStrategy, n.LastDrain, n.SchedulingEligibility = nil, nil, ""
		if old := s.node(n.Id); old != nil {
			n.DrainStrategy, n.LastDrain = old.DrainStrategy, old.LastDrain
			n.SchedulingEligibility = old.SchedulingEligibility
		}
		evals, release := s.nodeEventEvals(n.Id, true)
		idx, err := s.nodeRegistrations.propose(ctx, s, &structs.NodeUpsert{Node: n, Evals: evals})
		release()
		if err != nil {
			return err
		}
		resp = s.heartbeatReply(n.Id, idx)
		return nil
	}, func(ctx context.Context, c structs.DroverClient) (err error) {
		resp, err = c.RegisterNode(ctx, &structs.NodeRegisterRequest{Node: node})
		return err
	})
	return resp, err
}

// Heartbeat resets a node's TTL. It writes through raft only when the node's
// status changes (a node that was down comes back).
func (s *Server) Heartbeat(ctx context.Context, nodeID, secretID string) (*structs.NodeUpdateResponse, error) {
	var resp *structs.NodeUpdateResponse
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		node, err := s.authNode(nodeID, secretID)
		if err != nil {
			return err
		}
		idx := s.state.Index()
		if node.Status != structs.NodeStatusReady {
			evals, release := s.nodeEventEvals(nodeID, true)
			idx, err = s.raft.Propose(ctx, &structs.LogCommand{
				Command: &structs.LogCommand_NodeStatus{NodeStatus: &structs.NodeStatusUpdate{
					NodeId: nodeID, Status: structs.NodeStatusReady, Evals: evals,
				}},
			})
			release()
			if err != nil {
				return err
			}
		}
		s.metrics.heartbeats.Inc()
		resp = s.heartbeatReply(nodeID, idx)
		return nil
	}, func(ctx context.Context, c structs.DroverClient) (err error) {
		resp, err = c.Heartbeat(ctx, &structs.NodeHeartbeatRequest{NodeId: nodeID, SecretId: secretID})
		return err
	})
	return resp, err
}

// heartbeatReply tells a client its next TTL and where the servers are:
// every server of the peer set and the leader. The list is maintained as
// the peer set changes, so a reply costs nothing per server.
func (s *Server) heartbeatReply(nodeID string, idx uint64) *structs.NodeUpdateResponse {
	ttl := s.ttl.reset(nodeID)
	servers := s.raft.Peers().Addrs()
	if len(servers) == 0 {
		servers = []string{s.self.Addr}
	}
	return &structs.NodeUpdateResponse{
		HeartbeatTtlMs: ttl.Milliseconds(),
		Servers:        servers,
		Leader:         s.self.Addr,
		Meta:           &structs.WriteMeta{Index: idx},
	}
}

// authNode checks that secretID is the node's secret.
func (s *Server) authNode(nodeID, secretID string) (*structs.Node, error) {
	node := s.node(nodeID)
	if node == nil {
		return nil, fmt.Errorf("%w: node %s", ErrNotFound, structs.Quote(nodeID))
	}
	if secretID == "" || node.SecretId != secretID {
		return nil, fmt.Errorf("%w: wrong secret for node %s", ErrPermissionDenied, structs.Quote(nodeID))
	}
	return node, nil
}

// nodeExpired is called by the TTL tracker (a TTL, or a disconnected
// node's window, ran out); the reaper does the raft write.
func (s *Server) nodeExpired(nodeID string) {
	if s.node(nodeID).GetStatus() != structs.NodeStatusDisconnected {
		// A disconnected node's timer is its window's end, not a TTL.
		s.metrics.heartbeatsExpired.Inc()
	}
	select {
	case s.expired <- nodeID:
	case <-s.stopCtx.Done():
	}
}

// reapExpiredNodes handles the nodes whose timer fired: a live node missed
// its TTL and is marked down, or disconnected when some of its allocations
// have a disconnect window; a disconnected node's window ran out (see
// disconnect.go). Evaluations replace the work. It runs on the leader only.
func (s *Server) reapExpiredNodes(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case nodeID := <-s.expired:
			if !s.raft.IsLeader() {
				continue
			}
			switch node := s.node(nodeID); {
			case node == nil || node.Status == structs.NodeStatusDown:
			case node.Status == structs.NodeStatusDisconnected:
				s.disconnectExpired(ctx, node)
			default:
				s.missedTTL(ctx, node)
			}
		}
	}
}

// NodeAllocations returns a node's allocations, after checking the
// secret, once they changed after minIndex (a blocking query bounded by
// wait). The index answered is the node's own: the last change to its
// allocations. So a client's long-poll wakes only for changes to its own
// allocations, not for every write to the state.
func (s *Server) NodeAllocations(ctx context.Context, nodeID, secretID string, minIndex uint64, wait time.Duration) ([]*structs.Allocation, uint64, error) {
	r, err := s.nodeAllocations(ctx, nodeID, secretID, minIndex, wait, nodeAllocsQuery{})
	return r.allocs, r.index, err
}

// nodeAllocsQuery says what a read of a node's allocations returns beyond
// NodeAllocations' whole list.
type nodeAllocsQuery struct {
	// since, when not 0, asks for the allocations changed after it only,
	// with every allocation's id (a client that holds the list as of
	// since).
	since uint64
	// serverOnly counts the node's own status reports as no change (for a
	// client that keeps them): the index answered, and what changed
	// after since, follow what the servers changed (AllocModifyIndex).
	serverOnly bool
	// idsWhenRemoved leaves the ids out unless an allocation left the
	// node after since.
	idsWhenRemoved bool
}

// nodeAllocsRead is one read of a node's allocations, from one snapshot.
type nodeAllocsRead struct {
	// allocs are all the node's allocations, or with since those changed
	// after it.
	allocs []*structs.Allocation
	// ids are every allocation's id, with since unless idsOmitted.
	ids        []string
	idsOmitted bool
	// index is the node's: the last change to its allocations.
	index uint64
}

// nodeAllocations is NodeAllocations with the choices of q.
func (s *Server) nodeAllocations(ctx context.Context, nodeID, secretID string, minIndex uint64, wait time.Duration, q nodeAllocsQuery) (nodeAllocsRead, error) {
	if err := s.readBarrier(ctx); err != nil {
		return nodeAllocsRead{}, err
	}
	if _, err := s.authNode(nodeID, secretID); err != nil {
		return nodeAllocsRead{}, err
	}
	if wait <= 0 || wait > maxBlockingQuery {
		wait = maxBlockingQuery
	}
	// Up to a sixteenth more, at random (as Nomad's blocking queries): a
	// fleet of clients that started together does not time out together.
	wait += rand.N(wait/16 + 1)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	stop := context.AfterFunc(s.stopCtx, cancel)
	defer stop()
	for {
		if known, changed := s.state.NodeAllocsChange(nodeID, q.serverOnly); known != 0 && minIndex != 0 && known <= minIndex {
			// Nothing changed after minIndex (the node's change index, when
			// known, is at least its allocations' own): wait before reading
			// them.
			select {
			case <-changed:
				continue
			case <-ctx.Done():
			}
		}
		r, stateIndex, changed := s.nodeAllocs(nodeID, q)
		switch {
		case minIndex == 0 && r.index == 0:
			// A node that never had allocations starts from the state's index.
			r.index = stateIndex
			return r, nil
		case minIndex == 0 || r.index > minIndex:
			return r, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			r.index = max(r.index, minIndex)
			return r, nil
		}
	}
}

// nodeAllocs reads a node's allocations as q asks, with the node's index:
// the last change to them (0 when none is known), and the state's index.
// changed is closed at their next change.
func (s *Server) nodeAllocs(nodeID string, q nodeAllocsQuery) (r nodeAllocsRead, stateIndex uint64, changed <-chan struct{}) {
	r.index, changed = s.state.NodeAllocsChange(nodeID, q.serverOnly)
	snap := s.state.Snapshot()
	allocs, index := snap.NodeAllocsChangedSince(nodeID, q.since, q.serverOnly)
	r.allocs, r.index = allocs, max(r.index, index)
	if q.since > 0 {
		// The removals are read after the snapshot: one made between the
		// two only lists the ids when they were not needed.
		if r.idsOmitted = q.idsWhenRemoved && s.state.NodeAllocsRemoved(nodeID) <= q.since; !r.idsOmitted {
			r.ids = snap.NodeAllocIDs(nodeID)
		}
	}
	return r, snap.Index(), changed
}

// UpdateAllocations records client-reported allocation status. Every
// allocation must belong to the calling node; otherwise nothing changes.
func (s *Server) UpdateAllocations(ctx context.Context, nodeID, secretID string, allocs []*structs.Allocation) (uint64, error) {
	var idx uint64
	err := s.leaderCall(ctx, func(ctx context.Context) (err error) {
		idx, err = s.updateAllocations(ctx, nodeID, secretID, allocs)
		return err
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.UpdateAllocations(ctx, &structs.AllocUpdateRequest{NodeId: nodeID, SecretId: secretID, Allocations: allocs})
		idx = resp.GetMeta().GetIndex()
		return err
	})
	return idx, err
}

func (s *Server) updateAllocations(ctx context.Context, nodeID, secretID string, allocs []*structs.Allocation) (uint64, error) {
	if _, err := s.authNode(nodeID, secretID); err != nil {
		return 0, err
	}
	current := make(map[string]*structs.Allocation, len(allocs))
	s.state.View(func(v *state.Snapshot) {
		for _, a := range allocs {
			if a != nil {
				current[a.Id] = v.Alloc(a.Id)
			}
		}
	})
	upd := make([]*structs.Allocation, 0, len(allocs))
	for _, a := range allocs {
		if a == nil {
			return 0, fmt.Errorf("%w: nil allocation", ErrBadRequest)
		}
		cur := current[a.Id]
		if cur == nil {
			return 0, fmt.Errorf("%w: allocation %s", ErrNotFound, structs.Quote(a.Id))
		}
		if cur.NodeId != nodeID {
			return 0, fmt.Errorf("%w: allocation %s belongs to another node", ErrPermissionDenied, structs.Quote(a.Id))
		}
		switch a.ClientStatus {
		case structs.AllocClientPending, structs.AllocClientRunning, structs.AllocClientComplete, structs.AllocClientFailed:
		default:
			return 0, fmt.Errorf("%w: allocation %s: client status %s", ErrBadRequest, structs.Quote(a.Id), structs.Quote(a.ClientStatus))
		}
		upd = append(upd, &structs.Allocation{
			Id: a.Id, ClientStatus: a.ClientStatus, ClientDescription: a.ClientDescription, TaskStates: a.TaskStates,
			DeploymentId: a.DeploymentId, DeploymentStatus: reportedHealth(a.DeploymentStatus), Checks: boundedChecks(a.Checks),
		})
	}
	if len(upd) == 0 {
		return s.state.Index(), nil
	}
	return s.allocUpdates.propose(ctx, s, upd...)
}
