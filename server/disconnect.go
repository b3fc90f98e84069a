package server

import (
	"context"
	"time"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// Disconnect windows (max_client_disconnect) on the leader. A node that
// misses its TTL while some of its allocations have a window becomes
// disconnected instead of down; its TTL timer is then re-armed for the
// earliest end of those windows, so a disconnected node costs one runtime
// timer, like a live one, and nothing per heartbeat. When the timer fires,
// the windows that ran out are ended through raft (their allocations
// become lost) and the timer is armed for the next, until none is left and
// the node is down. A heartbeat in between resets the timer to a TTL and
// brings the node back. A new leader arms the timers of disconnected
// nodes from the state.

// retryNodeLoss is how soon a node's status change is tried again after
// its raft write failed.
const retryNodeLoss = time.Second

// missedTTL handles a node whose TTL expired: it becomes disconnected when
// one of its allocations can wait for it, down otherwise.
func (s *Server) missedTTL(ctx context.Context, node *structs.Node) {
	status := structs.NodeStatusDown
	s.state.View(func(v *state.Snapshot) {
		v.EachAllocOfNode(node.Id, func(a *structs.Allocation) bool {
			if a.CanDisconnect() {
				status = structs.NodeStatusDisconnected
				return false
			}
			return true
		})
	})
	if status == structs.NodeStatusDown {
		s.logger.Warn("node missed its heartbeat TTL, marking it down", "node", node.Id, "name", node.Name)
	} else {
		s.logger.Warn("node missed its heartbeat TTL, marking it disconnected: allocations with max_client_disconnect wait for it",
			"node", node.Id, "name", node.Name)
	}
	s.proposeNodeLoss(ctx, node.Id, &structs.LogCommand{
		Command: &structs.LogCommand_NodeStatus{NodeStatus: &structs.NodeStatusUpdate{NodeId: node.Id, Status: status}},
	})
}

// disconnectExpired handles the timer of a disconnected node: the windows
// that ran out end through raft; the timer is armed for the next one.
func (s *Server) disconnectExpired(ctx context.Context, node *structs.Node) {
	if next, ok := s.nextDisconnectExpiry(node.Id); ok && next.After(s.cfg.Clock.Now()) {
		// Early (a new leader's clock, or a window ended meanwhile).
		s.ttl.armIdle(node.Id, next.Sub(s.cfg.Clock.Now()))
		return
	}
	s.logger.Warn("disconnect window ran out", "node", node.Id, "name", node.Name)
	s.proposeNodeLoss(ctx, node.Id, &structs.LogCommand{
		Command: &structs.LogCommand_NodeDisconnectExpiry{NodeDisconnectExpiry: &structs.NodeDisconnectExpiry{NodeId: node.Id}},
	})
}

// proposeNodeLoss proposes cmd (a node status change or a window's end)
// with evaluations for the node's jobs, counts the outcome, and arms the
// node's timer if it is (still) disconnected.
func (s *Server) proposeNodeLoss(ctx context.Context, nodeID string, cmd *structs.LogCommand) {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	evals, release := s.nodeEventEvals(nodeID, false)
	switch c := cmd.Command.(type) {
	case *structs.LogCommand_NodeStatus:
		c.NodeStatus.Evals = evals
	case *structs.LogCommand_NodeDisconnectExpiry:
		c.NodeDisconnectExpiry.Evals = evals
	}
	before := s.node(nodeID).GetStatus()
	_, err := s.raft.Propose(pctx, cmd)
	release()
	if err != nil {
		// The node's timer is spent: try again soon, or the node would
		// keep its status for good. A server that no longer leads has
		// its timers off, and the next leader arms its own.
		s.logger.Warn("recording a node's missed heartbeats failed, retrying", "node", nodeID, "error", err)
		s.ttl.armIdle(nodeID, retryNodeLoss)
		return
	}
	switch after := s.node(nodeID).GetStatus(); {
	case after == before:
	case after == structs.NodeStatusDown:
		s.metrics.nodesDown.Inc()
	case after == structs.NodeStatusDisconnected:
		s.metrics.nodesDisconnected.Inc()
	}
	s.armDisconnected(nodeID)
}

// armDisconnected arms a disconnected node's timer for the end of its
// earliest open window (at once when none is open), unless the node has a
// timer already: it heartbeated meanwhile.
func (s *Server) armDisconnected(nodeID string) {
	if s.node(nodeID).GetStatus() != structs.NodeStatusDisconnected {
		return
	}
	var d time.Duration
	if next, ok := s.nextDisconnectExpiry(nodeID); ok {
		d = next.Sub(s.cfg.Clock.Now())
	}
	s.ttl.armIdle(nodeID, d)
}

// nextDisconnectExpiry is the earliest end of a window of the node's
// allocations that still wait for it.
func (s *Server) nextDisconnectExpiry(nodeID string) (next time.Time, ok bool) {
	s.state.View(func(v *state.Snapshot) {
		v.EachAllocOfNode(nodeID, func(a *structs.Allocation) bool {
			if a.ClientTerminal() {
				return true
			}
			if exp, has := a.DisconnectExpiry(); has && (!ok || exp.Before(next)) {
				next, ok = exp, true
			}
			return true
		})
	})
	return next, ok
}
