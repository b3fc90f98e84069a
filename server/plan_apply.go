package server

import (
	"context"
	"log/slog"
	"slices"

	"github.com/google/uuid"
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

// proposer is the raft node as the leader's services use it.
type proposer interface {
	Propose(ctx context.Context, cmd *structs.LogCommand) (uint64, error)
}

// planApplier is the leader's single committer of plans: it re-checks each
// node of a plan against the latest state (other workers may have placed
// there since the plan's snapshot), commits what still fits as one raft
// entry, and reports the nodes it refused. Nodes refused too often are
// marked ineligible by the rejection tracker.
type planApplier struct {
	queue chan pendingPlan
	raft  proposer
	state *state.Store
	// applied counts committed plans; rejected those with refused nodes,
	// nodesRejected the refused nodes, placed the allocations committed.
	applied, rejected, nodesRejected, placed prometheus.Counter
	// rejections is nil when the tracker is disabled.
	rejections *rejectionTracker
	logger     *slog.Logger
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
	snap := p.state.Snapshot()
	res := evaluatePlan(snap, plan)
	if n := len(res.RefusedNodes); n > 0 {
		if p.rejected != nil {
			p.rejected.Inc()
			p.nodesRejected.Add(float64(n))
		}
		p.trackRejections(ctx, res.RefusedNodes)
	}
	if len(res.NodeAllocation)+len(res.NodeUpdate)+len(res.NodePreemptions)+len(res.DeploymentUpdates) == 0 && res.Deployment == nil {
		res.AllocIndex = snap.Index()
		return res, nil
	}
	evals := preemptedEvals(snap, res)
	if len(res.RefusedNodes) == 0 && len(plan.EvalUpdates) > 0 {
		evals = append(slices.Clone(plan.EvalUpdates), evals...)
	}
	idx, err := p.raft.Propose(ctx, &structs.LogCommand{
		Command: &structs.LogCommand_PlanApply{PlanApply: &structs.PlanApply{
			Result: withoutJobs(res, plan.Job), Job: plan.Job, NewEvals: evals,
		}},
	})
	if err != nil {
		return nil, err
	}
	res.EvalsCommitted = len(res.RefusedNodes) == 0 && len(plan.EvalUpdates) > 0
	p.applied.Inc()
	if p.placed != nil {
		p.placed.Add(float64(len(res.NodeAllocation)))
	}
	res.AllocIndex = idx
	return res, nil
}

// withoutJobs is res with placements that run the plan's job stripped of
// it: the raft entry carries the job once.
func withoutJobs(res *structs.PlanResult, job *structs.Job) *structs.PlanResult {
	out := &structs.PlanResult{
		NodeUpdate: res.NodeUpdate, NodePreemptions: res.NodePreemptions,
		Deployment: res.Deployment, DeploymentUpdates: res.DeploymentUpdates,
	}
	out.NodeAllocation = make([]*structs.Allocation, len(res.NodeAllocation))
	for i, a := range res.NodeAllocation {
		if a.Job == job {
			a = state.CloneAlloc(a)
			a.Job = nil
		}
		out.NodeAllocation[i] = a
	}
	return out
}

// preemptedEvals are evaluations of the jobs whose allocations the plan
// evicts, so they are placed elsewhere.
func preemptedEvals(snap *state.Snapshot, res *structs.PlanResult) []*structs.Evaluation {
	seen := map[[2]string]bool{}
	var out []*structs.Evaluation
	for _, a := range res.NodePreemptions {
		k := [2]string{a.Namespace, a.JobId}
		if seen[k] {
			continue
		}
		seen[k] = true
		if job := snap.Job(a.Namespace, a.JobId); job != nil && !job.Stop {
			out = append(out, newEval(job, structs.EvalTriggerPreemption))
		}
	}
	return out
}

// trackRejections feeds refused nodes to the rejection tracker and marks
// ineligible those refused too often.
func (p *planApplier) trackRejections(ctx context.Context, nodes []string) {
	if p.rejections == nil {
		return
	}
	for _, id := range nodes {
		if !p.rejections.add(id) {
			continue
		}
		p.logger.Warn("node refused in too many plans, marking it ineligible", "node", id)
		_, err := p.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_NodeEligibility{
			NodeEligibility: &structs.NodeEligibilityUpdate{NodeId: id, Eligibility: structs.NodeIneligible},
		}})
		if err != nil {
			p.logger.Warn("marking node ineligible failed", "node", id, "error", err)
		}
	}
}

// evaluatePlan keeps, per node, the plan's placements (and the evictions
// they need) only if the node still takes them and has room. Stops and
// other updates are kept, except the stop of an allocation whose
// replacement was refused: the old one keeps running until its
// replacement is placed. The deployment the plan creates and its status
// updates are kept whole.
func evaluatePlan(snap *state.Snapshot, plan *structs.Plan) *structs.PlanResult {
	res := &structs.PlanResult{Deployment: plan.Deployment, DeploymentUpdates: plan.DeploymentUpdates}
	freeing := freeingAllocs{ids: map[string]bool{}, onNode: map[string][]*structs.Allocation{}}
	for _, a := range plan.NodeUpdate {
		if a.DesiredStatus == structs.AllocDesiredStop || a.DesiredStatus == structs.AllocDesiredEvict {
			freeing.add(snap, a.Id)
		}
	}
	preempting := map[string][]*structs.Allocation{}
	for _, a := range plan.NodePreemptions {
		freeing.add(snap, a.Id)
		preempting[a.NodeId] = append(preempting[a.NodeId], a)
	}
	byNode := map[string][]*structs.Allocation{}
	var order []string
	for _, a := range plan.NodeAllocation {
		if _, seen := byNode[a.NodeId]; !seen {
			order = append(order, a.NodeId)
		}
		byNode[a.NodeId] = append(byNode[a.NodeId], a)
	}
	keepStop := map[string]bool{}
	for _, nodeID := range order {
		placing := byNode[nodeID]
		if nodeFits(snap, nodeID, placing, freeing) {
			res.NodeAllocation = append(res.NodeAllocation, placing...)
			res.NodePreemptions = append(res.NodePreemptions, preempting[nodeID]...)
			continue
		}
		res.RefusedNodes = append(res.RefusedNodes, nodeID)
		for _, a := range placing {
			if a.PreviousAllocation != "" {
				keepStop[a.PreviousAllocation] = true
			}
		}
	}
	for _, a := range plan.NodeUpdate {
		if !keepStop[a.Id] {
			res.NodeUpdate = append(res.NodeUpdate, a)
		}
	}
	return res
}

// freeingAllocs are the allocations a plan stops or evicts: their ids,
// and the live ones by node as the snapshot has them.
type freeingAllocs struct {
	ids    map[string]bool
	onNode map[string][]*structs.Allocation
}

func (f freeingAllocs) add(snap *state.Snapshot, id string) {
	if f.ids[id] {
		return
	}
	f.ids[id] = true
	if cur := snap.Alloc(id); cur != nil && !cur.IsTerminal() {
		f.onNode[cur.NodeId] = append(f.onNode[cur.NodeId], cur)
	}
}

// nodeFits reports whether a node still takes the placements: new ones
// need it ready, eligible and not draining; in-place updates of its own
// allocations need it up (neither down nor disconnected). Either way
// everything must fit once the plan's stops and evictions are done.
func nodeFits(snap *state.Snapshot, nodeID string, placing []*structs.Allocation, freeing freeingAllocs) bool {
	node := snap.Node(nodeID)
	if node == nil || node.Status == structs.NodeStatusDown || node.Status == structs.NodeStatusDisconnected {
		// A disconnected client would not see even an in-place update.
		return false
	}
	fresh, ports := false, false
	var replaced []*structs.Allocation
	for _, a := range placing {
		cur := snap.Alloc(a.Id)
		switch {
		case cur == nil || cur.NodeId != nodeID:
			fresh = true
		case !cur.IsTerminal() && !freeing.ids[a.Id]:
			replaced = append(replaced, cur)
		}
		ports = ports || len(a.AllocatedPorts) > 0
	}
	if fresh && (node.Status != structs.NodeStatusReady || node.SchedulingEligibility == structs.NodeIneligible || node.DrainStrategy != nil) {
		return false
	}
	if ports {
		return allocsFitNode(snap, node, placing, freeing.ids)
	}
	// Without ports to check, the node's usage as the state keeps it, less
	// what the plan frees or replaces, plus what it places, decides.
	cpu, mem, disk := snap.NodeUsage(nodeID)
	freed := scheduler.Usage(append(replaced, freeing.onNode[nodeID]...))
	placed := scheduler.Usage(placing)
	c := node.GetResources()
	return cpu-freed.CpuMhz+placed.CpuMhz <= c.GetCpuMhz() &&
		mem-freed.MemoryMb+placed.MemoryMb <= c.GetMemoryMb() &&
		(c.GetDiskMb() <= 0 || disk-freed.DiskMb+placed.DiskMb <= c.GetDiskMb())
}

// allocsFitNode checks the node's allocations one by one, as they will be
// once the plan is applied: resources and ports.
func allocsFitNode(snap *state.Snapshot, node *structs.Node, placing []*structs.Allocation, freeing map[string]bool) bool {
	replacing := make(map[string]bool, len(placing))
	for _, a := range placing {
		replacing[a.Id] = true
	}
	all := make([]*structs.Allocation, 0, len(placing)+8)
	snap.EachAllocOfNode(node.Id, func(a *structs.Allocation) bool {
		if !freeing[a.Id] && !replacing[a.Id] {
			all = append(all, a)
		}
		return true
	})
	ok, _ := scheduler.AllocsFit(node, append(all, placing...))
	return ok
}

// newUUID is the id source of evaluations the server creates.
var newUUID = uuid.NewString
