package state

import (
	"slices"
	"strings"

	"github.com/droverhq/drover/structs"
)

// Snapshot is a read-only, point-in-time view of the state store. Taking
// one is O(1); it stays valid, unchanged, however the store moves on.
type Snapshot struct {
	t tables
}

// NewStoreFrom returns a new store holding the snapshot's content. It
// costs O(1): the persistent tables are shared, and writes to either store
// do not show in the other. Only a snapshot of a Store can seed one.
func NewStoreFrom(s *Snapshot) *Store {
	return &Store{t: s.t, notify: make(chan struct{})}
}

// Index is the raft index the snapshot reflects.
func (s *Snapshot) Index() uint64 { return s.t.index }

// Job returns the job, or nil.
func (s *Snapshot) Job(ns, id string) *structs.Job {
	j, _ := s.t.jobs.get(key(ns, id))
	return j
}

// Jobs lists jobs whose id starts with prefix in ns ("" for every
// namespace), sorted by namespace then id.
func (s *Snapshot) Jobs(ns, prefix string) []*structs.Job {
	if ns != "" {
		return collect(s.t.jobs, prefixKey(ns)+prefix)
	}
	var out []*structs.Job
	s.t.jobs.walkPrefix("", func(_ string, j *structs.Job) bool {
		if strings.HasPrefix(j.Id, prefix) {
			out = append(out, j)
		}
		return true
	})
	return out
}

// JobsByType lists the jobs of one type, sorted by namespace then id.
func (s *Snapshot) JobsByType(jobType string) []*structs.Job {
	return collect(s.t.jobsByType, prefixKey(jobType))
}

// JobVersions lists the kept versions of a job, newest first; the first is
// the current version.
func (s *Snapshot) JobVersions(ns, id string) []*structs.Job {
	return reversed(collect(s.t.jobVersions, prefixKey(ns, id)))
}

// JobVersion returns one kept version of a job, or nil.
func (s *Snapshot) JobVersion(ns, id string, version uint64) *structs.Job {
	j, _ := s.t.jobVersions.get(versionKey(ns, id, version))
	return j
}

// Node returns the node, or nil.
func (s *Snapshot) Node(id string) *structs.Node {
	n, _ := s.t.nodes.get(id)
	return n
}

// Nodes lists every node, sorted by id.
func (s *Snapshot) Nodes() []*structs.Node { return collect(s.t.nodes, "") }

// EachNode calls f for every node in id order until f returns false.
func (s *Snapshot) EachNode(f func(*structs.Node) bool) { each(s.t.nodes, "", f) }

// Alloc returns the allocation, or nil.
func (s *Snapshot) Alloc(id string) *structs.Allocation {
	a, _ := s.t.allocs.get(id)
	return a
}

// Allocs lists every allocation, sorted by id.
func (s *Snapshot) Allocs() []*structs.Allocation { return collect(s.t.allocs, "") }

// AllocsByNode lists a node's allocations, sorted by id.
func (s *Snapshot) AllocsByNode(nodeID string) []*structs.Allocation {
	return allocsOfNode(s.t.allocByNode, nodeID)
}

// EachAllocOfNode calls f for a node's allocations in id order until f returns false.
func (s *Snapshot) EachAllocOfNode(nodeID string, f func(*structs.Allocation) bool) {
	s.t.allocByNode.walkPrefix(prefixKey(nodeID), func(_ string, v nodeAlloc) bool { return f(v.a) })
}

// NodeAllocsChangedSince returns the node's allocations changed after
// since (all of them when since is 0), in id order, and the index of the
// latest change among all the node's allocations: their ModifyIndex, or
// with serverOnly their AllocModifyIndex (the servers' changes only). With
// serverOnly it reads the by-node index alone, not the allocations it
// leaves out.
func (s *Snapshot) NodeAllocsChangedSince(nodeID string, since uint64, serverOnly bool) (changed []*structs.Allocation, index uint64) {
	s.t.allocByNode.walkPrefix(prefixKey(nodeID), func(_ string, v nodeAlloc) bool {
		i := v.allocModify
		if !serverOnly {
			i = v.a.ModifyIndex
		}
		index = max(index, i)
		if since == 0 || i > since {
			changed = append(changed, v.a)
		}
		return true
	})
	return changed, index
}

// NodeAllocIDs lists the ids of a node's allocations, in order. It reads
// the by-node index alone.
func (s *Snapshot) NodeAllocIDs(nodeID string) []string {
	prefix := prefixKey(nodeID)
	var ids []string
	s.t.allocByNode.walkPrefix(prefix, func(k string, _ nodeAlloc) bool {
		ids = append(ids, k[len(prefix):])
		return true
	})
	return ids
}

// AllocsByJob lists a job's allocations, sorted by id.
func (s *Snapshot) AllocsByJob(ns, id string) []*structs.Allocation {
	return collect(s.t.allocByJob, prefixKey(ns, id))
}

// Eval returns the evaluation, or nil.
func (s *Snapshot) Eval(id string) *structs.Evaluation {
	e, _ := s.t.evals.get(id)
	return e
}

// Evals lists every evaluation, sorted by id.
func (s *Snapshot) Evals() []*structs.Evaluation { return collect(s.t.evals, "") }

// EvalsByJob lists a job's evaluations, sorted by id.
func (s *Snapshot) EvalsByJob(ns, id string) []*structs.Evaluation {
	return collect(s.t.evalByJob, prefixKey(ns, id))
}

// SchedulerConfig is the cluster's scheduler configuration, or nil before
// the first leader primed it.
func (s *Snapshot) SchedulerConfig() *structs.SchedulerConfiguration { return s.t.schedConfig }

// Persist copies the snapshot into one message. Large states are better
// written object by object with Walk.
func (s *Snapshot) Persist() *structs.StateSnapshot {
	return &structs.StateSnapshot{
		Index:                s.t.index,
		Jobs:                 s.Jobs("", ""),
		JobVersions:          collect(s.t.jobVersions, ""),
		Nodes:                s.Nodes(),
		Allocations:          s.Allocs(),
		Evals:                s.Evals(),
		SchedulerConfig:      s.t.schedConfig,
		AclPolicies:          s.ACLPolicies(""),
		AclTokens:            collect(s.t.aclTokens, ""),
		ClusterMeta:          s.t.meta,
		Deployments:          collect(s.t.deployments, ""),
		ServiceRegistrations: collect(s.t.services, ""),
		Variables:            collect(s.t.variables, ""),
		RootKeys:             collect(s.t.rootKeys, ""),
		PeriodicLaunches:     collect(s.t.periodicLaunches, ""),
		ScalingEvents:        collect(s.t.scalingEvents, ""),
	}
}

// nodeAlloc is an allocation in the by-node index with its
// AllocModifyIndex beside it: a node's long-poll that keeps its own reports
// finds what the servers changed by reading the index's leaves, without
// reaching every allocation.
type nodeAlloc struct {
	a           *structs.Allocation
	allocModify uint64
}

// allocsOfNode lists a node's allocations from the by-node index.
func allocsOfNode(t btree[nodeAlloc], nodeID string) []*structs.Allocation {
	var out []*structs.Allocation
	t.walkPrefix(prefixKey(nodeID), func(_ string, v nodeAlloc) bool {
		out = append(out, v.a)
		return true
	})
	return out
}

// collect lists the values under prefix, in key order.
func collect[T any](t btree[T], prefix string) []T {
	var out []T
	t.walkPrefix(prefix, func(_ string, v T) bool {
		out = append(out, v)
		return true
	})
	return out
}

// each calls f for the values under prefix, in key order, until f returns false.
func each[T any](t btree[T], prefix string, f func(T) bool) {
	t.walkPrefix(prefix, func(_ string, v T) bool { return f(v) })
}

func reversed[T any](s []T) []T {
	slices.Reverse(s)
	return s
}
