package server

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// maxDrainDeadline caps a drain's deadline so that it stays a valid time.
const maxDrainDeadline = 100 * 365 * 24 * time.Hour

// UpdateNodeDrain starts a node's drain (strategy set) or ends it (nil).
// Starting one makes the node ineligible for new work, records the drain
// in the node's last_drain, and leaves the rest to the leader's drainer,
// which migrates the node's allocations. Ending one leaves the node
// ineligible unless markEligible. A client draining itself passes its
// secret, which must match; an operator passes "" and needs node write.
func (s *Server) UpdateNodeDrain(ctx context.Context, nodeID, secretID string, strategy *structs.DrainStrategy, markEligible bool) (uint64, error) {
	if secretID == "" {
		// An operator's drain; a node's own carries its secret instead.
		if err := s.allow(ctx, "node write", (*acl.ACL).AllowNodeWrite); err != nil {
			return 0, err
		}
	}
	var idx uint64
	err := s.leaderCall(ctx, func(ctx context.Context) (err error) {
		idx, err = s.updateNodeDrain(ctx, nodeID, secretID, strategy, markEligible)
		return err
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.UpdateNodeDrain(ctx, &structs.NodeDrainRequest{
			NodeId: nodeID, SecretId: secretID, DrainStrategy: strategy, MarkEligible: markEligible,
		})
		idx = resp.GetMeta().GetIndex()
		return err
	})
	return idx, err
}

func (s *Server) updateNodeDrain(ctx context.Context, nodeID, secretID string, strategy *structs.DrainStrategy, markEligible bool) (uint64, error) {
	node := s.node(nodeID)
	if node == nil {
		return 0, fmt.Errorf("%w: node %s", ErrNotFound, structs.Quote(nodeID))
	}
	if secretID != "" && node.SecretId != secretID {
		return 0, fmt.Errorf("%w: wrong secret for node %s", ErrPermissionDenied, structs.Quote(nodeID))
	}
	upd := &structs.NodeDrainUpdate{NodeId: nodeID}
	if strategy != nil {
		if strategy.GetDeadline() != nil {
			if err := strategy.GetDeadline().CheckValid(); err != nil {
				return 0, fmt.Errorf("%w: drain deadline: %v", ErrBadRequest, err)
			}
		}
		st := proto.Clone(strategy).(*structs.DrainStrategy)
		now := s.cfg.Clock.Now()
		st.StartedAt = now.UnixNano()
		// Nomad's meaning: a negative deadline forces the drain (everything
		// stops at once), zero means no deadline at all.
		switch d := st.GetDeadline().AsDuration(); {
		case d < 0:
			st.ForceDeadline = now.UnixNano()
		case d == 0:
			st.ForceDeadline = 0
		default:
			st.ForceDeadline = now.Add(min(d, maxDrainDeadline)).UnixNano()
		}
		if old := node.DrainStrategy; old != nil {
			// A new deadline for a drain under way keeps its start.
			st.StartedAt = old.StartedAt
		}
		upd.DrainStrategy = st
		upd.Eligibility = structs.NodeIneligible
		upd.DrainStatus = structs.DrainStatusDraining
	} else {
		if markEligible {
			upd.Eligibility = structs.NodeEligible
			if node.SchedulingEligibility != structs.NodeEligible {
				// Work waiting for room (system jobs among it) may use the node again.
				evals, release := s.nodeEventEvals(nodeID, true)
				defer release()
				upd.Evals = evals
			}
		}
		if node.DrainStrategy != nil {
			upd.DrainStatus = structs.DrainStatusCanceled
		}
	}
	return s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_NodeDrain{NodeDrain: upd}})
}

// applyNodeDrain sets a node's drain strategy and eligibility.
func (f *fsm) applyNodeDrain(tx *state.Txn, index uint64, now int64, c *structs.NodeDrainUpdate) []*structs.Evaluation {
	old := tx.Node(c.NodeId)
	if old == nil {
		return nil
	}
	node := proto.Clone(old).(*structs.Node)
	node.DrainStrategy = c.DrainStrategy
	if c.Eligibility != "" {
		node.SchedulingEligibility = c.Eligibility
	}
	if c.DrainStatus != "" {
		if node.LastDrain == nil || c.DrainStatus == structs.DrainStatusDraining && old.DrainStrategy == nil {
			node.LastDrain = &structs.DrainMetadata{StartedAt: now}
		}
		node.LastDrain.Status = c.DrainStatus
		node.LastDrain.UpdatedAt = now
	}
	node.ModifyIndex = index
	tx.UpsertNode(node)
	return upsertEvals(tx, index, now, c.Evals)
}

// applyAllocTransition sets the desired transition of allocations.
func (f *fsm) applyAllocTransition(tx *state.Txn, index uint64, now int64, c *structs.AllocTransitionUpdate) []*structs.Evaluation {
	for id, tr := range c.Transitions {
		cur := tx.Alloc(id)
		if cur == nil || tr == nil {
			continue
		}
		a := proto.Clone(cur).(*structs.Allocation)
		a.DesiredTransition = proto.Clone(tr).(*structs.DesiredTransition)
		a.ModifyIndex = index
		a.ModifyTime = now
		tx.UpsertAlloc(a)
	}
	return upsertEvals(tx, index, now, c.Evals)
}
