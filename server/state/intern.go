package state

import (
	"maps"
	"unique"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// Allocations arrive decoded from raft entries, every one with its own
// copy of the strings and small maps it shares with its neighbours: the
// namespace, job, group, evaluation and node, the task resources of its
// group, the placement metrics of its pass, the status words. Kept as
// decoded, a million allocations hold a million copies of each. The
// store keeps about one: strings are interned with package unique (whose
// table forgets an entry after a garbage collection, so interning keeps
// nothing alive; a string interned again after one gets a new copy, one
// per collection rather than one per object), and a plan's placements
// share the maps that are equal. The objects stay immutable, so sharing
// is safe.

// InternTaskStates interns the words of task states the caller owns
// (freshly decoded from a client's update): state names, event types and
// messages repeat across every allocation.
func InternTaskStates(states map[string]*structs.TaskState) {
	for _, ts := range states {
		ts.State = Intern(ts.State)
		for _, e := range ts.Events {
			e.Type = Intern(e.Type)
			e.Message = Intern(e.Message)
			e.DriverError = Intern(e.DriverError)
		}
	}
}

// Intern returns the canonical copy of s, for a caller storing a freshly
// decoded string that many objects repeat.
func Intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// planSharing makes the allocations of one plan (or of one restore)
// share their equal task resources and placement metrics. It remembers
// the last few distinct values of each: a plan's placements come group by
// group. With copyMetrics set it never changes a metric it was given (a
// restore's objects may be shared with their source); otherwise the
// allocations and their metrics are the caller's to change.
type planSharing struct {
	copyMetrics bool
	resources   []map[string]*structs.Resources
	metrics     []*structs.AllocMetric
	counts      []map[string]int32
	// prev is the last allocation shared: its strings are canonical, and
	// a plan's placements mostly repeat them, so comparing with them
	// saves most of the interning. nodes holds the node ids and names
	// seen, which vary from one placement to the next.
	prev  *structs.Allocation
	nodes map[string]string
}

// sharedKept bounds the distinct values planSharing compares against.
const sharedKept = 4

// share points a's task resources and metrics at equal ones seen earlier
// in the plan, and interns its strings.
func (p *planSharing) share(a *structs.Allocation) {
	p.internStrings(a)
	if a.TaskResources != nil {
		a.TaskResources = p.shareResources(a.TaskResources)
	}
	if a.Metrics != nil {
		a.Metrics = p.shareMetric(a.Metrics)
	}
}

// internStrings replaces a's repeated strings by their canonical copies,
// taking what repeats from the allocation before (canonical already) and
// node ids and names from the plan's own table. Ids of the allocation
// itself are left as they are: no other object repeats them.
func (p *planSharing) internStrings(a *structs.Allocation) {
	prev := p.prev
	if prev == nil {
		prev = &structs.Allocation{}
	}
	p.prev = a
	a.Namespace = sameOrIntern(a.Namespace, prev.Namespace)
	a.EvalId = sameOrIntern(a.EvalId, prev.EvalId)
	a.NodeId = p.node(a.NodeId)
	a.NodeName = p.node(a.NodeName)
	a.JobId = sameOrIntern(a.JobId, prev.JobId)
	a.TaskGroup = sameOrIntern(a.TaskGroup, prev.TaskGroup)
	a.DesiredStatus = sameOrIntern(a.DesiredStatus, prev.DesiredStatus)
	a.DesiredDescription = sameOrIntern(a.DesiredDescription, prev.DesiredDescription)
	a.ClientStatus = sameOrIntern(a.ClientStatus, prev.ClientStatus)
	a.ClientDescription = sameOrIntern(a.ClientDescription, prev.ClientDescription)
	a.DeploymentId = sameOrIntern(a.DeploymentId, prev.DeploymentId)
}

// sameOrIntern is canonical when s equals it, else s interned.
func sameOrIntern(s, canonical string) string {
	if s == canonical {
		return canonical
	}
	return Intern(s)
}

// node interns a node id or name through the plan's own table.
func (p *planSharing) node(s string) string {
	if c, ok := p.nodes[s]; ok {
		return c
	}
	c := Intern(s)
	if p.nodes == nil {
		p.nodes = map[string]string{}
	}
	p.nodes[c] = c
	return c
}

func (p *planSharing) shareResources(r map[string]*structs.Resources) map[string]*structs.Resources {
	for _, seen := range p.resources {
		if maps.EqualFunc(seen, r, func(x, y *structs.Resources) bool { return proto.Equal(x, y) }) {
			return seen
		}
	}
	p.resources = keepLast(p.resources, r)
	return r
}

func (p *planSharing) shareMetric(m *structs.AllocMetric) *structs.AllocMetric {
	for _, seen := range p.metrics {
		if proto.Equal(seen, m) {
			return seen
		}
	}
	// Different counters, but the per-datacenter and per-reason tables
	// are often the same as another placement's.
	if p.copyMetrics {
		m = proto.CloneOf(m)
	}
	for _, f := range []*map[string]int32{&m.NodesAvailable, &m.ClassFiltered, &m.ConstraintFiltered,
		&m.DimensionExhausted, &m.ClassExhausted} {
		if *f != nil {
			*f = p.shareCounts(*f)
		}
	}
	p.metrics = keepLast(p.metrics, m)
	return m
}

func (p *planSharing) shareCounts(c map[string]int32) map[string]int32 {
	for _, seen := range p.counts {
		if maps.Equal(seen, c) {
			return seen
		}
	}
	p.counts = keepLast(p.counts, c)
	return c
}

// keepLast appends v to list, dropping the oldest beyond sharedKept.
func keepLast[T any](list []T, v T) []T {
	if len(list) == sharedKept {
		copy(list, list[1:])
		list = list[:sharedKept-1]
	}
	return append(list, v)
}
