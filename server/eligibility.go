package server

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// UpdateNodeEligibility makes a node eligible or ineligible for new
// placements; allocations already on the node keep running. A node that
// becomes eligible gets evaluations for the jobs that might use it. A
// draining node cannot be made eligible: cancel the drain instead.
func (s *Server) UpdateNodeEligibility(ctx context.Context, nodeID, eligibility string) (*structs.NodeEligibilityResponse, error) {
	if err := s.allow(ctx, "node write", (*acl.ACL).AllowNodeWrite); err != nil {
		return nil, err
	}
	switch eligibility {
	case structs.NodeEligible, structs.NodeIneligible:
	default:
		return nil, fmt.Errorf("%w: eligibility must be %q or %q, got %s", ErrBadRequest, structs.NodeEligible, structs.NodeIneligible, structs.Quote(eligibility))
	}
	var resp *structs.NodeEligibilityResponse
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		node := s.node(nodeID)
		if node == nil {
			return fmt.Errorf("%w: node %s", ErrNotFound, structs.Quote(nodeID))
		}
		if eligibility == structs.NodeEligible && node.DrainStrategy != nil {
			return fmt.Errorf("%w: node %s is draining; cancel the drain to make it eligible", ErrBadRequest, structs.Quote(nodeID))
		}
		var evals []*structs.Evaluation
		release := func() {}
		if eligibility == structs.NodeEligible && node.SchedulingEligibility != structs.NodeEligible {
			evals, release = s.nodeEventEvals(nodeID, true)
		}
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{
			Command: &structs.LogCommand_NodeEligibility{NodeEligibility: &structs.NodeEligibilityUpdate{
				NodeId: nodeID, Eligibility: eligibility, Evals: evals,
			}},
		})
		release()
		if err != nil {
			return err
		}
		resp = &structs.NodeEligibilityResponse{Meta: &structs.WriteMeta{Index: idx}}
		for _, e := range evals {
			resp.EvalIds = append(resp.EvalIds, e.Id)
		}
		return nil
	}, func(ctx context.Context, c structs.DroverClient) (err error) {
		resp, err = c.UpdateNodeEligibility(ctx, &structs.NodeEligibilityRequest{NodeId: nodeID, Eligibility: eligibility})
		return err
	})
	return resp, err
}

// applyNodeEligibility records a node's eligibility; it reports a capacity
// change when the node became eligible.
func applyNodeEligibility(tx *state.Txn, index uint64, now int64, c *structs.NodeEligibilityUpdate) ([]*structs.Evaluation, bool) {
	old := tx.Node(c.NodeId)
	if old == nil {
		return nil, false
	}
	node := proto.Clone(old).(*structs.Node)
	node.SchedulingEligibility = c.Eligibility
	node.ModifyIndex = index
	tx.UpsertNode(node)
	becameEligible := old.SchedulingEligibility != structs.NodeEligible && c.Eligibility == structs.NodeEligible
	return upsertEvals(tx, index, now, c.Evals), becameEligible
}
