package scheduler

import (
	"math"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// Candidate limits: a placement scores at most this many feasible nodes,
// taken in a random order that continues from one placement to the next.
// A group with affinities or spread blocks scores a few more, so that the
// nodes it prefers are among those looked at; both are constants, so the
// cost of a placement does not depend on the size of the cluster.
const (
	candidateLimit       = 3
	scoredCandidateLimit = 6
	// maxSkip is how many candidates with a negative score (e.g. already
	// running the group) may be passed over before taking what there is.
	maxSkip = 3
	// preemptCandidates bounds the exhausted nodes examined for preemption.
	preemptCandidates = 8
	// preemptPriorityDelta: only allocations of jobs at least this much
	// lower in priority are preempted.
	preemptPriorityDelta = 10
)

// groupPlacer places allocations of one task group. It keeps, for the
// pass, a shuffled ring of the nodes still worth looking at: a node found
// infeasible or exhausted is removed from it at once, so every node is
// examined for the group at most once more than it is chosen. Usage only
// grows while a group is placed, except where a placement replaces an
// allocation (a destructive update, a migration): an exhausted node that
// frees room that way goes back into the ring.
type groupPlacer struct {
	ps      *pass
	tg      *structs.TaskGroup
	ask     resources
	ports   *portAsk
	res     map[string]*structs.Resources
	escaped bool
	ring    []int32
	cursor  int
	limit   int
	// full marks the nodes taken out of the ring for lack of room (not
	// for infeasibility), which a release may bring back; exhaustedOnce
	// the nodes the metric already counts as exhausted.
	full, exhaustedOnce []bool
	// checked marks nodes counted in the metric; usable caches node-level checks.
	checked []bool
	metric  *structs.AllocMetric
	// exhausted nodes, candidates for preemption.
	exhausted []int32
	preempt   bool

	jobDistinct, groupDistinct bool
	props                      []*propertyCounts
	affinities                 []*structs.Affinity
	affinity                   []float64
	spread                     *spreadState
	// deployment is the deployment the group's placements join, or "".
	deployment string
}

func (ps *pass) newGroupPlacer(tg *structs.TaskGroup) *groupPlacer {
	gp := &groupPlacer{
		ps: ps, tg: tg, ports: newPortAsk(tg),
		res:           groupResources(tg, ps.cfg.GetMemoryOversubscriptionEnabled()),
		escaped:       escapesClass(ps.job, tg),
		limit:         candidateLimit,
		checked:       make([]bool, len(ps.nodes)),
		full:          make([]bool, len(ps.nodes)),
		exhaustedOnce: make([]bool, len(ps.nodes)),
		metric:        &structs.AllocMetric{},
		preempt:       preemptionEnabled(ps.cfg, ps.job.Type),
	}
	for _, r := range gp.res {
		gp.ask.add(resources{cpu: r.GetCpuMhz(), mem: r.GetMemoryMb(), disk: r.GetDiskMb()})
	}
	if gp.escaped {
		ps.d.EscapedComputedClass = true
	}
	gp.jobDistinct, gp.groupDistinct = distinctHosts(ps.job, tg)
	gp.affinities = groupAffinities(ps.job, tg)
	if len(gp.affinities) > 0 {
		gp.affinity = make([]float64, len(ps.nodes))
		for i := range gp.affinity {
			gp.affinity[i] = math.NaN()
		}
	}
	gp.spread = newSpreadState(ps.job, tg, len(ps.nodes))
	if gp.spread != nil || gp.affinity != nil {
		gp.limit = scoredCandidateLimit
	}
	gp.props = ps.propertyLimits(tg)
	if ps.rollout != nil {
		gp.deployment = ps.rollout.idFor(tg.Name)
	}
	if gp.spread != nil {
		for _, a := range ps.allocs {
			if a.TaskGroup == tg.Name && live(a) && !ps.stopped[a.Id] && !a.ClientTerminal() {
				if ns := ps.byID[a.NodeId]; ns != nil {
					gp.spread.add(ns, 1)
				}
			}
		}
	}
	gp.ring = make([]int32, len(ps.nodes))
	for i := range gp.ring {
		gp.ring[i] = int32(i)
	}
	ps.rng.Shuffle(len(gp.ring), func(i, j int) { gp.ring[i], gp.ring[j] = gp.ring[j], gp.ring[i] })
	return gp
}

// propertyLimits collects the distinct_property constraints that apply to
// tg, with their counts: job-level ones are shared by every group.
func (ps *pass) propertyLimits(tg *structs.TaskGroup) []*propertyCounts {
	var out []*propertyCounts
	add := func(c *structs.Constraint, jobLevel bool) {
		k := constraintString(c)
		if !jobLevel {
			k = tg.Name + "\x00" + k
		}
		pc := ps.props[k]
		if pc == nil {
			limit, err := strconv.Atoi(c.RTarget)
			if err != nil || limit < 1 {
				limit = 1
			}
			pc = &propertyCounts{c: c, limit: limit, counts: map[string]int{}}
			for _, a := range ps.allocs {
				if !live(a) || a.ClientTerminal() || ps.stopped[a.Id] || (!jobLevel && a.TaskGroup != tg.Name) {
					continue
				}
				if ns := ps.byID[a.NodeId]; ns != nil {
					if v, ok := resolveTarget(c.LTarget, ns.node); ok {
						pc.counts[v]++
					}
				}
			}
			ps.props[k] = pc
		}
		out = append(out, pc)
	}
	for _, c := range ps.job.Constraints {
		if c.Operand == structs.ConstraintDistinctProperty {
			add(c, true)
		}
	}
	for _, c := range tg.Constraints {
		if c.Operand == structs.ConstraintDistinctProperty {
			add(c, false)
		}
	}
	return out
}

func (gp *groupPlacer) filtered(reason string) {
	m := gp.metric
	m.NodesFiltered++
	if m.ConstraintFiltered == nil {
		m.ConstraintFiltered = map[string]int32{}
	}
	m.ConstraintFiltered[reason]++
}

func (gp *groupPlacer) exhaust(ns *nodeState, dim string) {
	if gp.exhaustedOnce[ns.idx] {
		return // looked at again after a release freed room on it
	}
	gp.exhaustedOnce[ns.idx] = true
	m := gp.metric
	m.NodesExhausted++
	if m.DimensionExhausted == nil {
		m.DimensionExhausted = map[string]int32{}
	}
	m.DimensionExhausted[dim]++
	if c := ns.node.NodeClass; c != "" {
		if m.ClassExhausted == nil {
			m.ClassExhausted = map[string]int32{}
		}
		m.ClassExhausted[c]++
	}
	gp.exhausted = append(gp.exhausted, int32(ns.idx))
}

// feasible runs every check but resources on ns; a failure is recorded in
// the metric and is final for this group in this pass.
func (gp *groupPlacer) feasible(ns *nodeState) bool {
	if !gp.checked[ns.idx] {
		gp.checked[ns.idx] = true
		gp.metric.NodesEvaluated++
	}
	if ok, reason := ns.usableNode(); !ok {
		gp.filtered(reason)
		return false
	}
	if f := gp.ps.staticFeasible(gp.tg, gp.escaped, ns.node); !f.ok {
		gp.filtered(f.reason)
		return false
	}
	gp.ps.node(ns)
	if (gp.jobDistinct && ns.jobTotal > 0) || (gp.groupDistinct && ns.jobGroups[gp.tg.Name] > 0) {
		gp.filtered(structs.ConstraintDistinctHosts)
		return false
	}
	for _, pc := range gp.props {
		v, ok := resolveTarget(pc.c.LTarget, ns.node)
		if !ok {
			gp.filtered("missing property " + pc.c.LTarget)
			return false
		}
		if pc.counts[v] >= pc.limit {
			gp.filtered(structs.ConstraintDistinctProperty + " " + pc.c.LTarget)
			return false
		}
	}
	return true
}

// fits checks resources and ports; an exhausted node is recorded.
func (gp *groupPlacer) fits(ns *nodeState) bool {
	if ok, dim := ns.fits(gp.ask); !ok {
		gp.exhaust(ns, dim)
		return false
	}
	if gp.ports != nil {
		if ok, dim := gp.ports.fits(gp.ps, ns); !ok {
			gp.exhaust(ns, dim)
			return false
		}
	}
	return true
}

// score ranks a feasible node that fits, higher is better: the average of
// the fit score (bin-packing or spread), job anti-affinity (for groups
// without spread blocks), the reschedule penalty, affinities and spread
// targets, those that apply.
func (gp *groupPlacer) score(ns *nodeState, penalty map[string]bool) float64 {
	sum, n := gp.fitScore(ns), 1.0
	// Job anti-affinity spreads a group over nodes; a group with spread
	// blocks says how it wants to be spread instead.
	if c := ns.jobGroups[gp.tg.Name]; c > 0 && gp.spread == nil {
		sum += -float64(c+1) / float64(max(gp.tg.Count, 1))
		n++
	}
	if penalty[ns.node.Id] {
		sum += -1
		n++
	}
	if gp.affinity != nil {
		a := gp.affinity[ns.idx]
		if math.IsNaN(a) {
			a = gp.ps.affinityScore(gp.affinities, ns.node)
			gp.affinity[ns.idx] = a
		}
		if a != 0 {
			sum += a
			n++
		}
	}
	if gp.spread != nil {
		sum += gp.spread.score(ns)
		n++
	}
	return sum / n
}

// fitScore is Nomad's bin-packing score of the node with the ask placed
// (fuller is better), or its opposite under the spread algorithm,
// normalised to [0, 1].
func (gp *groupPlacer) fitScore(ns *nodeState) float64 {
	c := ns.capacity
	free := func(used, capacity int64) float64 {
		if capacity <= 0 {
			return 0
		}
		return 1 - float64(used)/float64(capacity)
	}
	total := math.Pow(10, free(ns.used.cpu+gp.ask.cpu, c.cpu)) + math.Pow(10, free(ns.used.mem+gp.ask.mem, c.mem))
	if gp.ps.cfg.GetSchedulerAlgorithm() == AlgorithmSpread {
		return math.Min(total-2, 18) / 18
	}
	return math.Min(20-total, 18) / 18
}

// selectNode picks the node for one placement: the best of up to limit
// feasible nodes that fit, continuing round the ring; nil when none fits.
func (gp *groupPlacer) selectNode(penalty map[string]bool) *nodeState {
	var (
		best      *nodeState
		bestScore float64
		fallback  *nodeState
		fbScore   float64
		found     int
		skipped   int
		seen      int
	)
	nodes := gp.ps.nodes
	for seen < len(gp.ring) && found < gp.limit {
		if gp.cursor >= len(gp.ring) {
			gp.cursor = 0
		}
		ns := nodes[gp.ring[gp.cursor]]
		if feasible := gp.feasible(ns); !feasible || !gp.fits(ns) {
			gp.full[ns.idx] = feasible
			last := len(gp.ring) - 1
			gp.ring[gp.cursor] = gp.ring[last]
			gp.ring = gp.ring[:last]
			continue
		}
		gp.cursor++
		seen++
		s := gp.score(ns, penalty)
		if s < 0 && skipped < maxSkip {
			skipped++
			if fallback == nil || better(s, ns, fbScore, fallback) {
				fallback, fbScore = ns, s
			}
			continue
		}
		found++
		if best == nil || better(s, ns, bestScore, best) {
			best, bestScore = ns, s
		}
	}
	if best == nil {
		best = fallback
	}
	return best
}

// stickyNode is the node of the allocation w replaces, when the group's
// ephemeral disk is sticky and that node can take the replacement: its
// data then stays where it is. A rescheduled allocation (its previous one
// failed) gets no such preference.
func (gp *groupPlacer) stickyNode(w placement) *nodeState {
	if w.previous == nil || w.reschedule || !gp.tg.GetEphemeralDisk().GetSticky() {
		return nil
	}
	ns := gp.ps.byID[w.previous.NodeId]
	if ns == nil || !gp.feasible(ns) || !gp.fits(ns) {
		return nil
	}
	return ns
}

// better breaks score ties by node id, so a pass is deterministic.
func better(s float64, ns *nodeState, bs float64, b *nodeState) bool {
	if s != bs {
		return s > bs
	}
	return ns.node.Id < b.node.Id
}

// placement is one allocation a reconciler wants placed.
type placement struct {
	name string
	// previous is the allocation it replaces (rescheduled, migrated,
	// updated destructively, lost); stopPrevious stops it in the same plan,
	// only if the replacement is placed.
	previous     *structs.Allocation
	stopPrevious bool
	stopReason   string
	// stopAnyway stops previous even when no node takes the replacement:
	// a drain past its deadline stops what is left on the node.
	stopAnyway bool
	// reschedule carries the reschedule history and penalises the previous node.
	reschedule bool
	// canary places a canary of the group's deployment.
	canary bool
}

// placeAll places a group's wanted allocations and records its metric;
// it stops early when the pass is interrupted.
func (gp *groupPlacer) placeAll(wants []placement) {
	var queued int32
	for _, w := range wants {
		if gp.ps.interrupted() {
			return
		}
		if !gp.placeOne(w) {
			queued++
		}
	}
	gp.ps.recordGroup(gp.tg.Name, queued, gp.metric)
}

// placeOne places one allocation, stopping what it replaces in the same
// plan; if no node takes it, what it replaces keeps running.
func (gp *groupPlacer) placeOne(w placement) bool {
	undo := gp.releasePrevious(w)
	var penalty map[string]bool
	if w.reschedule && w.previous != nil {
		penalty = map[string]bool{w.previous.NodeId: true}
	}
	ns := gp.stickyNode(w)
	if ns == nil {
		ns = gp.selectNode(penalty)
	}
	var victims []*structs.Allocation
	if ns == nil && gp.preempt {
		ns, victims = gp.preemptFor()
	}
	if ns == nil {
		if w.stopAnyway && w.previous != nil {
			gp.ps.plan.NodeUpdate = append(gp.ps.plan.NodeUpdate, StopAllocation(w.previous, w.stopReason))
			return false
		}
		undo()
		return false
	}
	gp.commit(ns, w, victims)
	return true
}

// placeResult is what placing on a given node came to.
type placeResult int

const (
	placed placeResult = iota
	infeasible
	exhausted
)

// placeOn places one allocation on ns (system jobs), preempting if it
// must and may.
func (gp *groupPlacer) placeOn(ns *nodeState, w placement) placeResult {
	undo := gp.releasePrevious(w)
	if !gp.feasible(ns) {
		undo()
		return infeasible
	}
	var victims []*structs.Allocation
	if !gp.fits(ns) {
		ok := false
		if gp.preempt {
			victims, ok = gp.victims(ns)
		}
		if !ok {
			undo()
			return exhausted
		}
	}
	gp.commit(ns, w, victims)
	return placed
}

// releasePrevious frees the room of what a placement replaces, for the
// pass, and returns how to give it back should the placement fail.
func (gp *groupPlacer) releasePrevious(w placement) (undo func()) {
	ps := gp.ps
	if w.previous == nil || !w.stopPrevious {
		return func() {}
	}
	ps.release(w.previous)
	prevNode := ps.byID[w.previous.NodeId]
	if prevNode != nil && gp.full[prevNode.idx] {
		// It has room again: look at it again.
		gp.full[prevNode.idx] = false
		gp.ring = append(gp.ring, int32(prevNode.idx))
	}
	counted := prevNode != nil && gp.spread != nil && live(w.previous) && !w.previous.ClientTerminal()
	if counted {
		gp.spread.add(prevNode, -1)
	}
	return func() {
		ps.unrelease(w.previous)
		if counted {
			gp.spread.add(prevNode, 1)
		}
	}
}

// commit records a placement on ns: the new allocation (with its ports),
// the stop of what it replaces and the evictions it needs.
func (gp *groupPlacer) commit(ns *nodeState, w placement, victims []*structs.Allocation) {
	ps := gp.ps
	a := newAlloc(ps.in, ps.job, gp.tg, w.name, ns.node, gp.res)
	a.DeploymentId = gp.deployment
	if w.canary {
		a.DeploymentStatus = &structs.AllocDeploymentStatus{Canary: true}
	}
	if w.previous != nil {
		a.PreviousAllocation = w.previous.Id
		if w.stopPrevious {
			ps.plan.NodeUpdate = append(ps.plan.NodeUpdate, StopAllocation(w.previous, w.stopReason))
		}
		if w.reschedule {
			a.RescheduleTracker = appendReschedule(w.previous, ps.in.Now)
		}
	}
	for _, v := range victims {
		ps.release(v)
		a.PreemptedAllocations = append(a.PreemptedAllocations, v.Id)
		ps.plan.NodePreemptions = append(ps.plan.NodePreemptions, &structs.Allocation{
			Id: v.Id, Namespace: v.Namespace, NodeId: v.NodeId, JobId: v.JobId, TaskGroup: v.TaskGroup,
			DesiredStatus: structs.AllocDesiredEvict, PreemptedByAllocation: a.Id,
			DesiredDescription: "Preempted by alloc ID " + a.Id,
		})
	}
	if gp.ports != nil {
		a.AllocatedPorts = gp.ports.assign(ps, ns)
	}
	// The allocation keeps the placement metrics as they stand when it
	// was placed (alloc status -verbose shows them).
	a.Metrics = proto.Clone(gp.metric).(*structs.AllocMetric)
	ps.place(ns, a)
	if gp.spread != nil {
		gp.spread.add(ns, 1)
	}
	for _, pc := range gp.props {
		if v, ok := resolveTarget(pc.c.LTarget, ns.node); ok {
			pc.counts[v]++
		}
	}
}
