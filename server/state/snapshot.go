package state

import (
	"slices"
	"strings"

	iradix "github.com/hashicorp/go-immutable-radix/v2"

	"github.com/droverhq/drover/structs"
)

// Snapshot is a read-only, point-in-time view of the state store. Taking
// one is O(1); it stays valid, unchanged, however the store moves on.
type Snapshot struct {
	r roots
}

// Index is the raft index the snapshot reflects.
func (s *Snapshot) Index() uint64 { return s.r.index }

// Job returns the job, or nil.
func (s *Snapshot) Job(ns, id string) *structs.Job {
	j, _ := s.r.jobs.Get(key(ns, id))
	return j
}

// Jobs lists jobs whose id starts with prefix in ns ("" for every
// namespace), sorted by namespace then id.
func (s *Snapshot) Jobs(ns, prefix string) []*structs.Job {
	if ns != "" {
		return collect(s.r.jobs, append(prefixKey(ns), prefix...))
	}
	var out []*structs.Job
	s.r.jobs.Walk(func(_ []byte, j *structs.Job) bool {
		if strings.HasPrefix(j.Id, prefix) {
			out = append(out, j)
		}
		return false
	})
	return out
}

// JobVersions lists the kept versions of a job, newest first; the first is
// the current version.
func (s *Snapshot) JobVersions(ns, id string) []*structs.Job {
	return reversed(collect(s.r.jobVersions, prefixKey(ns, id)))
}

// JobVersion returns one kept version of a job, or nil.
func (s *Snapshot) JobVersion(ns, id string, version uint64) *structs.Job {
	j, _ := s.r.jobVersions.Get(versionKey(ns, id, version))
	return j
}

// Node returns the node, or nil.
func (s *Snapshot) Node(id string) *structs.Node {
	n, _ := s.r.nodes.Get([]byte(id))
	return n
}

// Nodes lists every node, sorted by id.
func (s *Snapshot) Nodes() []*structs.Node { return collect(s.r.nodes, nil) }

// EachNode calls f for every node in id order until f returns false.
func (s *Snapshot) EachNode(f func(*structs.Node) bool) { each(s.r.nodes, nil, f) }

// Alloc returns the allocation, or nil.
func (s *Snapshot) Alloc(id string) *structs.Allocation {
	a, _ := s.r.allocs.Get([]byte(id))
	return a
}

// Allocs lists every allocation, sorted by id.
func (s *Snapshot) Allocs() []*structs.Allocation { return collect(s.r.allocs, nil) }

// AllocsByNode lists a node's allocations, sorted by id.
func (s *Snapshot) AllocsByNode(nodeID string) []*structs.Allocation {
	return collect(s.r.allocByNode, prefixKey(nodeID))
}

// EachAllocOfNode calls f for a node's allocations in id order until f returns false.
func (s *Snapshot) EachAllocOfNode(nodeID string, f func(*structs.Allocation) bool) {
	each(s.r.allocByNode, prefixKey(nodeID), f)
}

// AllocsByJob lists a job's allocations, sorted by id.
func (s *Snapshot) AllocsByJob(ns, id string) []*structs.Allocation {
	return collect(s.r.allocByJob, prefixKey(ns, id))
}

// Eval returns the evaluation, or nil.
func (s *Snapshot) Eval(id string) *structs.Evaluation {
	e, _ := s.r.evals.Get([]byte(id))
	return e
}

// Evals lists every evaluation, sorted by id.
func (s *Snapshot) Evals() []*structs.Evaluation { return collect(s.r.evals, nil) }

// EvalsByJob lists a job's evaluations, sorted by id.
func (s *Snapshot) EvalsByJob(ns, id string) []*structs.Evaluation {
	return collect(s.r.evalByJob, prefixKey(ns, id))
}

// SchedulerConfig is the cluster's scheduler configuration, or nil before
// the first leader primed it.
func (s *Snapshot) SchedulerConfig() *structs.SchedulerConfiguration { return s.r.schedConfig }

// Persist copies the snapshot into one message. Large states are better
// written object by object with Walk.
func (s *Snapshot) Persist() *structs.StateSnapshot {
	return &structs.StateSnapshot{
		Index:           s.r.index,
		Jobs:            s.Jobs("", ""),
		JobVersions:     collect(s.r.jobVersions, nil),
		Nodes:           s.Nodes(),
		Allocations:     s.Allocs(),
		Evals:           s.Evals(),
		SchedulerConfig: s.r.schedConfig,
	}
}

// collect lists the values under prefix, in key order.
func collect[T any](root *iradix.Node[T], prefix []byte) []T {
	var out []T
	root.WalkPrefix(prefix, func(_ []byte, v T) bool {
		out = append(out, v)
		return false
	})
	return out
}

// each calls f for the values under prefix, in key order, until f returns false.
func each[T any](root *iradix.Node[T], prefix []byte, f func(T) bool) {
	root.WalkPrefix(prefix, func(_ []byte, v T) bool { return !f(v) })
}

func reversed[T any](s []T) []T {
	slices.Reverse(s)
	return s
}
