package scheduler

import (
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/droverhq/drover/structs"
)

// pass is one scheduling pass over an evaluation's job: the job and its
// allocations, every node with its usage as the plan so far leaves it
// (loaded on first use), the plan being built and the decision.
type pass struct {
	st   State
	in   Input
	cfg  *structs.SchedulerConfiguration
	job  *structs.Job
	plan *structs.Plan
	d    *Decision
	rng  *rand.Rand

	// allocs are the job's allocations.
	allocs []*structs.Allocation
	// nodes is every node, sorted by id; byID finds one.
	nodes []*nodeState
	byID  map[string]*nodeState
	// stopped holds the ids of allocations the plan stops or preempts.
	stopped map[string]bool
	// classes caches static feasibility per (group, computed class).
	classes map[classKey]feasibility
	regexps map[string]*regexpResult
	// props counts job-level distinct_property use across groups.
	props map[string]*propertyCounts
	// steps counts the pass's steps for Input.Interrupt; halted is set
	// once it said to stop.
	steps  int
	halted bool
	// rollout is the job's deployment as the generic scheduler sees it;
	// nil in the system scheduler.
	rollout *rollout
	// usage is the state's per-node usage when it keeps one (nil
	// otherwise); jobOnNode then holds the job's live allocations by node,
	// built on first use.
	usage     UsageState
	jobOnNode map[string][]*structs.Allocation
}

// UsageState is a State that keeps each node's usage: what the node's
// live (not terminal) allocations reserve. A pass then learns a node's
// usage without reading the node's allocations, and reads them only when
// it needs them one by one (ports, preemption). The state store's
// snapshots implement it.
type UsageState interface {
	NodeUsage(nodeID string) (cpuMHz, memoryMB, diskMB int64)
}

func newPass(st State, in Input) *pass {
	eval := in.Eval
	job := st.Job(eval.Namespace, eval.JobId)
	cfg := in.Config
	if cfg == nil {
		cfg = DefaultConfig()
	}
	h := fnv.New64a()
	h.Write([]byte(eval.Id))
	seed := h.Sum64()
	ps := &pass{
		st: st, in: in, cfg: cfg, job: job,
		plan:    &structs.Plan{EvalId: eval.Id, Priority: eval.Priority, Job: job, SnapshotIndex: st.Index()},
		d:       &Decision{},
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		allocs:  st.AllocsByJob(eval.Namespace, eval.JobId),
		stopped: map[string]bool{},
		classes: map[classKey]feasibility{},
		regexps: map[string]*regexpResult{},
		props:   map[string]*propertyCounts{},
	}
	ps.usage, _ = st.(UsageState)
	nodes := st.Nodes()
	if !slices.IsSortedFunc(nodes, func(a, b *structs.Node) int { return strings.Compare(a.Id, b.Id) }) {
		// Sorted so that ties between equally good nodes break the same
		// way whatever order the state lists them in.
		nodes = slices.Clone(nodes)
		slices.SortFunc(nodes, func(a, b *structs.Node) int { return strings.Compare(a.Id, b.Id) })
	}
	// One array of node states: placement walks them, and keeping them
	// together (with what it reads of each node copied in) keeps that
	// walk in cache on large clusters.
	states := make([]nodeState, len(nodes))
	ps.nodes = make([]*nodeState, len(nodes))
	ps.byID = make(map[string]*nodeState, len(nodes))
	for i, n := range nodes {
		ns := &states[i]
		ns.node, ns.idx = n, i
		ps.nodes[i] = ns
		ps.byID[n.Id] = ns
	}
	return ps
}

// nodeState is one node as the plan so far leaves it. Usage is loaded from
// the state the first time the node is looked at, then kept up to date as
// the pass places and stops allocations: placing N allocations costs N
// updates, not N scans.
type nodeState struct {
	node   *structs.Node
	idx    int
	loaded bool
	used   resources
	// capacity is the node's resources; usable and unusable cache
	// nodeUsable's answer (reason when not usable).
	capacity resources
	checked  bool
	usable   bool
	unusable string
	// allocs are the node's live allocations, proposed ones included; with
	// a UsageState, only the proposed ones until allocsLoaded.
	allocs       []*structs.Allocation
	allocsLoaded bool
	// stopsBeforeLoad are live allocations of the node the pass stopped
	// before it loaded the node: usage read from the state still counts them.
	stopsBeforeLoad []*structs.Allocation
	// ports in use, built when a group asking for ports looks at the node.
	ports map[int32]bool
	// jobGroups counts the pass's job's live allocations per group; jobTotal all of them.
	jobGroups map[string]int
	jobTotal  int
}

// resources is a sum of cpu, memory and disk.
type resources struct{ cpu, mem, disk int64 }

func (r *resources) add(o resources) { r.cpu += o.cpu; r.mem += o.mem; r.disk += o.disk }
func (r *resources) sub(o resources) { r.cpu -= o.cpu; r.mem -= o.mem; r.disk -= o.disk }

// allocResources is what an allocation reserves.
func allocResources(a *structs.Allocation) resources {
	cpu, mem, disk := a.Reserved()
	return resources{cpu: cpu, mem: mem, disk: disk}
}

// node returns a node's state, loading its usage on first use: from the
// state's per-node usage when it keeps one, else by summing the node's
// allocations.
func (ps *pass) node(ns *nodeState) *nodeState {
	if ns.loaded {
		return ns
	}
	ns.loaded = true
	c := ns.node.GetResources()
	ns.capacity = resources{cpu: c.GetCpuMhz(), mem: c.GetMemoryMb(), disk: c.GetDiskMb()}
	if ps.usage == nil {
		ns.allocsLoaded = true
		for _, a := range ps.st.AllocsByNode(ns.node.Id) {
			if a.IsTerminal() || ps.stopped[a.Id] {
				continue
			}
			ps.account(ns, a, +1)
		}
		return ns
	}
	cpu, mem, disk := ps.usage.NodeUsage(ns.node.Id)
	ns.used = resources{cpu: cpu, mem: mem, disk: disk}
	for _, a := range ns.stopsBeforeLoad {
		ns.used.sub(allocResources(a))
	}
	ns.stopsBeforeLoad = nil
	if ps.jobOnNode == nil {
		ps.jobOnNode = map[string][]*structs.Allocation{}
		for _, a := range ps.allocs {
			if ps.job != nil && !a.IsTerminal() {
				ps.jobOnNode[a.NodeId] = append(ps.jobOnNode[a.NodeId], a)
			}
		}
	}
	for _, a := range ps.jobOnNode[ns.node.Id] {
		if !ps.stopped[a.Id] {
			ns.countJobAlloc(a, +1)
		}
	}
	return ns
}

// liveAllocs returns the node's live allocations as the plan so far
// leaves them, reading them from the state on first use.
func (ps *pass) liveAllocs(ns *nodeState) []*structs.Allocation {
	ps.node(ns)
	if ns.allocsLoaded {
		return ns.allocs
	}
	ns.allocsLoaded = true
	proposed := ns.allocs
	ns.allocs = nil
	for _, a := range ps.st.AllocsByNode(ns.node.Id) {
		if a.IsTerminal() || ps.stopped[a.Id] || slices.ContainsFunc(proposed, func(p *structs.Allocation) bool { return p.Id == a.Id }) {
			continue
		}
		ns.allocs = append(ns.allocs, a)
	}
	ns.allocs = append(ns.allocs, proposed...)
	return ns.allocs
}

// account adds (sign +1) or removes (-1) an allocation from a node's usage.
func (ps *pass) account(ns *nodeState, a *structs.Allocation, sign int) {
	r := allocResources(a)
	if sign > 0 {
		ns.used.add(r)
		ns.allocs = append(ns.allocs, a)
		if ns.ports != nil {
			for _, p := range a.AllocatedPorts {
				ns.ports[p.Value] = true
			}
		}
		ps.countJob(ns, a, +1)
		return
	}
	ns.used.sub(r)
	if i := slices.IndexFunc(ns.allocs, func(x *structs.Allocation) bool { return x.Id == a.Id }); i >= 0 {
		ns.allocs = slices.Delete(ns.allocs, i, i+1)
	}
	if ns.ports != nil {
		for _, p := range a.AllocatedPorts {
			delete(ns.ports, p.Value)
		}
	}
	ps.countJob(ns, a, -1)
}

// countJob counts a in the node's allocations of the pass's job, if it
// is one of them.
func (ps *pass) countJob(ns *nodeState, a *structs.Allocation, sign int) {
	if ps.job != nil && a.JobId == ps.job.Id && a.Namespace == ps.job.Namespace {
		ns.countJobAlloc(a, sign)
	}
}

func (ns *nodeState) countJobAlloc(a *structs.Allocation, sign int) {
	if ns.jobGroups == nil {
		ns.jobGroups = map[string]int{}
	}
	ns.jobGroups[a.TaskGroup] += sign
	ns.jobTotal += sign
}

// stop adds a stop of a to the plan, freeing its resources for this pass.
func (ps *pass) stop(a *structs.Allocation, why string) {
	ps.plan.NodeUpdate = append(ps.plan.NodeUpdate, StopAllocation(a, why))
	ps.release(a)
}

// release frees a's resources for this pass without planning anything.
func (ps *pass) release(a *structs.Allocation) {
	if ps.stopped[a.Id] {
		return
	}
	ps.stopped[a.Id] = true
	if ns := ps.byID[a.NodeId]; ns != nil && !a.IsTerminal() {
		switch {
		case ns.loaded:
			ps.account(ns, a, -1)
		case ps.usage != nil:
			ns.stopsBeforeLoad = append(ns.stopsBeforeLoad, a)
		}
	}
}

// unrelease undoes release: the allocation keeps its room after all.
func (ps *pass) unrelease(a *structs.Allocation) {
	if !ps.stopped[a.Id] {
		return
	}
	delete(ps.stopped, a.Id)
	if ns := ps.byID[a.NodeId]; ns != nil && !a.IsTerminal() {
		switch {
		case ns.loaded:
			ps.account(ns, a, +1)
		case ps.usage != nil:
			ns.stopsBeforeLoad = slices.DeleteFunc(ns.stopsBeforeLoad, func(x *structs.Allocation) bool { return x.Id == a.Id })
		}
	}
}

// place adds a placement to the plan and to its node's usage.
func (ps *pass) place(ns *nodeState, a *structs.Allocation) {
	ps.plan.NodeAllocation = append(ps.plan.NodeAllocation, a)
	ps.account(ns, a, +1)
}

// interrupted counts one step of the pass and reports whether the pass
// must stop: Input.Interrupt is asked at the first step and every
// InterruptEvery steps after, and its yes is final.
func (ps *pass) interrupted() bool {
	if ps.halted {
		return true
	}
	if ps.in.Interrupt == nil {
		return false
	}
	ps.steps++
	if (ps.steps-1)%InterruptEvery == 0 {
		ps.halted = ps.in.Interrupt()
	}
	return ps.halted
}

// stopIfJobStopped stops every running allocation when the job is gone or
// stopped, and reports whether it was. A periodic or parameterized job
// never runs itself (its children do): it places nothing.
func (ps *pass) stopIfJobStopped() bool {
	if ps.job != nil && !ps.job.Stop && !ps.job.IsParent() {
		return false
	}
	for _, a := range ps.allocs {
		if a.DesiredStatus == structs.AllocDesiredRun && !a.ClientTerminal() {
			ps.stop(a, "alloc not needed as job is stopped")
		}
	}
	return true
}

// decision returns the pass's decision, without a plan when nothing changes.
func (ps *pass) decision() *Decision {
	p := ps.plan
	if len(p.NodeAllocation)+len(p.NodeUpdate)+len(p.NodePreemptions)+len(p.DeploymentUpdates) > 0 || p.Deployment != nil {
		ps.d.Plan = p
	}
	return ps.d
}

// recordGroup notes a group's queued placements and why they failed.
func (ps *pass) recordGroup(group string, queued int32, m *structs.AllocMetric) {
	d := ps.d
	if d.QueuedAllocations == nil {
		d.QueuedAllocations = map[string]int32{}
	}
	d.QueuedAllocations[group] = queued
	if queued > 0 {
		if d.FailedTGAllocs == nil {
			d.FailedTGAllocs = map[string]*structs.AllocMetric{}
		}
		m.CoalescedFailures = queued - 1
		ps.countAvailable(m)
		d.FailedTGAllocs[group] = m
	}
}

// countAvailable records, for a failed group, how many ready nodes each of
// the job's datacenters has (what `nomad job status` shows as available).
func (ps *pass) countAvailable(m *structs.AllocMetric) {
	m.NodesAvailable = map[string]int32{}
	for _, ns := range ps.nodes {
		n := ns.node
		if datacenterMatches(ps.job.Datacenters, n.Datacenter) {
			m.NodesInPool++
			if n.Status == structs.NodeStatusReady {
				m.NodesAvailable[n.Datacenter]++
			}
		}
	}
}

// StopAllocation returns a copy of a marked for stopping, with a reason, as
// a plan's node_update entry.
func StopAllocation(a *structs.Allocation, desc string) *structs.Allocation {
	return &structs.Allocation{
		Id: a.Id, Namespace: a.Namespace, Name: a.Name, NodeId: a.NodeId, JobId: a.JobId,
		TaskGroup: a.TaskGroup, DesiredStatus: structs.AllocDesiredStop, DesiredDescription: desc,
	}
}

// AllocName is the conventional name of a group's index-th allocation.
func AllocName(jobID, group string, index int) string {
	return jobID + "." + group + "[" + strconv.Itoa(index) + "]"
}

// NewAllocation builds a pending allocation of tg on node, for a plan's
// node_allocation. The task resources are the group's own.
func NewAllocation(in Input, job *structs.Job, tg *structs.TaskGroup, name string, node *structs.Node) *structs.Allocation {
	return newAlloc(in, job, tg, name, node, groupResources(tg, in.Config.GetMemoryOversubscriptionEnabled()))
}

// groupResources is the task resources map an allocation of tg reserves;
// memory_max is kept only when oversubscription is enabled.
func groupResources(tg *structs.TaskGroup, oversubscribe bool) map[string]*structs.Resources {
	res := make(map[string]*structs.Resources, len(tg.Tasks))
	for _, t := range tg.Tasks {
		r := t.Resources
		if r.GetMemoryMaxMb() != 0 && !oversubscribe {
			r = &structs.Resources{CpuMhz: r.CpuMhz, MemoryMb: r.MemoryMb, DiskMb: r.DiskMb}
		}
		res[t.Name] = r
	}
	return res
}

func newAlloc(in Input, job *structs.Job, tg *structs.TaskGroup, name string, node *structs.Node, res map[string]*structs.Resources) *structs.Allocation {
	now := in.Now.UnixNano()
	return &structs.Allocation{
		Id: in.NewID(), Namespace: job.Namespace, EvalId: in.Eval.Id, Name: name,
		NodeId: node.Id, NodeName: node.Name, JobId: job.Id, Job: job, TaskGroup: tg.Name,
		TaskResources: res, DesiredStatus: structs.AllocDesiredRun,
		ClientStatus: structs.AllocClientPending, CreateTime: now, ModifyTime: now,
	}
}

// live reports whether an allocation still holds its slot: wanted running and not lost.
func live(a *structs.Allocation) bool {
	return a.DesiredStatus == structs.AllocDesiredRun && a.ClientStatus != structs.AllocClientLost
}

// outdated reports whether an allocation runs an older version of job.
func outdated(a *structs.Allocation, job *structs.Job) bool {
	return a.Job != nil && a.Job.JobModifyIndex != job.JobModifyIndex
}

// groupOf finds a group of a job by name.
func groupOf(job *structs.Job, name string) *structs.TaskGroup {
	for _, tg := range job.GetTaskGroups() {
		if tg.Name == name {
			return tg
		}
	}
	return nil
}
