package server

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// pendingPlan is a plan waiting for the applier, with where to send the result.
type pendingPlan struct {
	plan   *structs.Plan
	result chan planOutcome
}

type planOutcome struct {
	result *structs.PlanResult
	err    error
}

// planApplier is the leader's single committer of plans: it re-checks each
// node of a plan against the latest state (other workers may have placed
// there since the plan's snapshot), commits what still fits as one raft
// entry, and reports the nodes it refused.
type planApplier struct {
	queue chan pendingPlan
	raft  interface {
		propose(ctx context.Context, cmd *structs.LogCommand) (uint64, error)
	}
	state *state.Store
	// applied counts committed plans; rejected those with refused nodes,
	// nodesRejected the refused nodes, placed the allocations committed.
	applied, rejected, nodesRejected, placed prometheus.Counter
}

// submit queues a plan and waits for its outcome.
func (p *planApplier) submit(ctx context.Context, plan *structs.Plan) (*structs.PlanResult, error) {
	pp := pendingPlan{plan: plan, result: make(chan planOutcome, 1)}
	select {
	case p.queue <- pp:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case out := <-pp.result:
		return out.result, out.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run applies plans until ctx is done.
func (p *planApplier) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case pp := <-p.queue:
			res, err := p.apply(ctx, pp.plan)
			pp.result <- planOutcome{result: res, err: err}
		}
	}
}

func (p *planApplier) apply(ctx context.Context, plan *structs.Plan) (*structs.PlanResult, error) {
	var res *structs.PlanResult
	p.state.View(func(v *state.Snapshot) { res = evaluatePlan(v, plan) })
	if n := len(res.RefusedNodes); n > 0 && p.rejected != nil {
		p.rejected.Inc()
		p.nodesRejected.Add(float64(n))
	}
	if len(res.NodeAllocation)+len(res.NodeUpdate) == 0 {
		res.AllocIndex = p.state.Index()
		return res, nil
	}
	idx, err := p.raft.propose(ctx, &structs.LogCommand{
		Command: &structs.LogCommand_PlanApply{PlanApply: &structs.PlanApply{Result: res}},
	})
	if err != nil {
		return nil, err
	}
	p.applied.Inc()
	if p.placed != nil {
		p.placed.Add(float64(len(res.NodeAllocation)))
	}
	res.AllocIndex = idx
	return res, nil
}

// evaluatePlan keeps the plan's stops and, per node, its placements only if
// the node is still ready, eligible and has room for them.
func evaluatePlan(snap *state.Snapshot, plan *structs.Plan) *structs.PlanResult {
	res := &structs.PlanResult{NodeUpdate: plan.NodeUpdate}
	stopping := map[string]bool{}
	for _, a := range plan.NodeUpdate {
		stopping[a.Id] = true
	}
	byNode := map[string][]*structs.Allocation{}
	var order []string
	for _, a := range plan.NodeAllocation {
		if _, seen := byNode[a.NodeId]; !seen {
			order = append(order, a.NodeId)
		}
		byNode[a.NodeId] = append(byNode[a.NodeId], a)
	}
	for _, nodeID := range order {
		placing := byNode[nodeID]
		if nodeFits(snap, nodeID, placing, stopping) {
			res.NodeAllocation = append(res.NodeAllocation, placing...)
		} else {
			res.RefusedNodes = append(res.RefusedNodes, nodeID)
		}
	}
	return res
}

func nodeFits(snap *state.Snapshot, nodeID string, placing []*structs.Allocation, stopping map[string]bool) bool {
	node := snap.Node(nodeID)
	if node == nil || node.Status != structs.NodeStatusReady || node.SchedulingEligibility == structs.NodeIneligible {
		return false
	}
	replacing := map[string]bool{}
	for _, a := range placing {
		replacing[a.Id] = true
	}
	var all []*structs.Allocation
	for _, a := range snap.AllocsByNode(nodeID) {
		if !stopping[a.Id] && !replacing[a.Id] {
			all = append(all, a)
		}
	}
	ok, _ := scheduler.AllocsFit(node, append(all, placing...))
	return ok
}
