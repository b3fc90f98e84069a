// Package state is the server's in-memory view of the cluster: jobs, nodes,
// allocations and evaluations as of a raft index, with point-in-time
// snapshots for readers and a watch channel for blocking queries.
//
// Objects handed out and taken in are treated as immutable: writers replace
// them, never mutate them, so a snapshot stays consistent while the store moves on.
package state

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/droverhq/drover/structs"
)

// jobKey identifies a job within the cluster.
type jobKey struct{ ns, id string }

// tables is the data shared by Store and Snapshot.
type tables struct {
	index       uint64
	jobs        map[jobKey]*structs.Job
	nodes       map[string]*structs.Node
	allocs      map[string]*structs.Allocation
	evals       map[string]*structs.Evaluation
	allocByNode map[string]map[string]struct{}
	allocByJob  map[jobKey]map[string]struct{}
}

func newTables() tables {
	return tables{
		jobs:        map[jobKey]*structs.Job{},
		nodes:       map[string]*structs.Node{},
		allocs:      map[string]*structs.Allocation{},
		evals:       map[string]*structs.Evaluation{},
		allocByNode: map[string]map[string]struct{}{},
		allocByJob:  map[jobKey]map[string]struct{}{},
	}
}

func (t *tables) clone() tables {
	c := tables{
		index:       t.index,
		jobs:        cloneMap(t.jobs),
		nodes:       cloneMap(t.nodes),
		allocs:      cloneMap(t.allocs),
		evals:       cloneMap(t.evals),
		allocByNode: make(map[string]map[string]struct{}, len(t.allocByNode)),
		allocByJob:  make(map[jobKey]map[string]struct{}, len(t.allocByJob)),
	}
	for k, v := range t.allocByNode {
		c.allocByNode[k] = cloneMap(v)
	}
	for k, v := range t.allocByJob {
		c.allocByJob[k] = cloneMap(v)
	}
	return c
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Store is the mutable state store. Only the FSM writes to it.
type Store struct {
	mu     sync.RWMutex
	t      tables
	notify chan struct{}
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{t: newTables(), notify: make(chan struct{})}
}

// Snapshot returns a consistent, read-only view of the store as it is now.
// It copies the tables' maps (not the objects), so it costs O(objects).
func (s *Store) Snapshot() *Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &Snapshot{t: s.t.clone()}
}

// View runs f on the live tables under the read lock, without copying
// them: the cheap way to read a few objects. f must not keep the Snapshot
// it is given, block, or write to the store.
func (s *Store) View(f func(v *Snapshot)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f(&Snapshot{t: s.t})
}

// Index is the raft index of the last change applied.
func (s *Store) Index() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.t.index
}

// WaitForIndex blocks until the store's index exceeds min, or ctx is done,
// and returns the index it saw.
func (s *Store) WaitForIndex(ctx context.Context, min uint64) uint64 {
	for {
		s.mu.RLock()
		idx, ch := s.t.index, s.notify
		s.mu.RUnlock()
		if idx > min {
			return idx
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return idx
		}
	}
}

// Txn is a write transaction. It holds the store's write lock from Begin to
// Commit, so readers never see a half-applied change; snapshots copy the
// tables, so writes after a snapshot do not show in it.
type Txn struct {
	s *Store
	t tables
}

// Begin starts a write transaction. Callers must Commit or Abort it.
func (s *Store) Begin() *Txn {
	s.mu.Lock()
	return &Txn{s: s, t: s.t}
}

// Commit sets the store's index and wakes blocked readers.
func (tx *Txn) Commit(index uint64) {
	if index > tx.t.index {
		tx.t.index = index
	}
	tx.s.t = tx.t
	close(tx.s.notify)
	tx.s.notify = make(chan struct{})
	tx.s.mu.Unlock()
}

// Restore replaces the whole content of the store with a snapshot's.
func (s *Store) Restore(snap *structs.StateSnapshot) {
	tx := s.Begin()
	tx.t = newTables()
	for _, j := range snap.GetJobs() {
		tx.UpsertJob(j)
	}
	for _, n := range snap.GetNodes() {
		tx.UpsertNode(n)
	}
	for _, a := range snap.GetAllocations() {
		tx.UpsertAlloc(a)
	}
	for _, e := range snap.GetEvals() {
		tx.UpsertEval(e)
	}
	tx.t.index = snap.GetIndex()
	tx.Commit(snap.GetIndex())
}

func (tx *Txn) view() *Snapshot { return &Snapshot{t: tx.t} }

// Job returns a job read within the transaction.
func (tx *Txn) Job(ns, id string) *structs.Job { return tx.t.jobs[jobKey{ns, id}] }

// Node returns a node read within the transaction.
func (tx *Txn) Node(id string) *structs.Node { return tx.t.nodes[id] }

// Alloc returns an allocation read within the transaction.
func (tx *Txn) Alloc(id string) *structs.Allocation { return tx.t.allocs[id] }

// Eval returns an evaluation read within the transaction.
func (tx *Txn) Eval(id string) *structs.Evaluation { return tx.t.evals[id] }

// AllocsByNode lists a node's allocations within the transaction.
func (tx *Txn) AllocsByNode(nodeID string) []*structs.Allocation {
	return tx.view().AllocsByNode(nodeID)
}

// AllocsByJob lists a job's allocations within the transaction.
func (tx *Txn) AllocsByJob(ns, id string) []*structs.Allocation {
	return tx.view().AllocsByJob(ns, id)
}

// UpsertJob stores a job.
func (tx *Txn) UpsertJob(j *structs.Job) {
	tx.t.jobs[jobKey{j.Namespace, j.Id}] = j
}

// DeleteJob removes a job (its allocations and evaluations stay).
func (tx *Txn) DeleteJob(ns, id string) {
	delete(tx.t.jobs, jobKey{ns, id})
}

// UpsertNode stores a node.
func (tx *Txn) UpsertNode(n *structs.Node) {
	tx.t.nodes[n.Id] = n
}

// DeleteNode removes a node (its allocations are removed separately).
func (tx *Txn) DeleteNode(id string) { delete(tx.t.nodes, id) }

// DeleteEval removes an evaluation.
func (tx *Txn) DeleteEval(id string) { delete(tx.t.evals, id) }

// DeleteAlloc removes an allocation and its index entries.
func (tx *Txn) DeleteAlloc(id string) {
	old := tx.t.allocs[id]
	if old == nil {
		return
	}
	removeFromIndex(tx.t.allocByNode, old.NodeId, old.Id)
	removeFromIndex(tx.t.allocByJob, jobKey{old.Namespace, old.JobId}, old.Id)
	delete(tx.t.allocs, id)
}

// UpsertEval stores an evaluation.
func (tx *Txn) UpsertEval(e *structs.Evaluation) {
	tx.t.evals[e.Id] = e
}

// UpsertAlloc stores an allocation and indexes it by node and job.
func (tx *Txn) UpsertAlloc(a *structs.Allocation) {
	if old := tx.t.allocs[a.Id]; old != nil {
		removeFromIndex(tx.t.allocByNode, old.NodeId, old.Id)
		removeFromIndex(tx.t.allocByJob, jobKey{old.Namespace, old.JobId}, old.Id)
	}
	tx.t.allocs[a.Id] = a
	addToIndex(tx.t.allocByNode, a.NodeId, a.Id)
	addToIndex(tx.t.allocByJob, jobKey{a.Namespace, a.JobId}, a.Id)
}

func removeFromIndex[K comparable](idx map[K]map[string]struct{}, k K, id string) {
	if set := idx[k]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(idx, k)
		}
	}
}

func addToIndex[K comparable](idx map[K]map[string]struct{}, k K, id string) {
	set := idx[k]
	if set == nil {
		set = map[string]struct{}{}
		idx[k] = set
	}
	set[id] = struct{}{}
}

// Snapshot is a read-only, point-in-time view of the state store.
type Snapshot struct {
	t tables
}

// Index is the raft index the snapshot reflects.
func (s *Snapshot) Index() uint64 { return s.t.index }

// Job returns the job, or nil.
func (s *Snapshot) Job(ns, id string) *structs.Job { return s.t.jobs[jobKey{ns, id}] }

// Jobs lists jobs whose id starts with prefix in ns ("" for every namespace), sorted.
func (s *Snapshot) Jobs(ns, prefix string) []*structs.Job {
	var out []*structs.Job
	for k, j := range s.t.jobs {
		if (ns == "" || k.ns == ns) && strings.HasPrefix(k.id, prefix) {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(i, k int) bool {
		if out[i].Namespace != out[k].Namespace {
			return out[i].Namespace < out[k].Namespace
		}
		return out[i].Id < out[k].Id
	})
	return out
}

// Node returns the node, or nil.
func (s *Snapshot) Node(id string) *structs.Node { return s.t.nodes[id] }

// Nodes lists every node, sorted by id.
func (s *Snapshot) Nodes() []*structs.Node {
	out := make([]*structs.Node, 0, len(s.t.nodes))
	for _, n := range s.t.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Id < out[k].Id })
	return out
}

// Alloc returns the allocation, or nil.
func (s *Snapshot) Alloc(id string) *structs.Allocation { return s.t.allocs[id] }

// Allocs lists every allocation, sorted by id.
func (s *Snapshot) Allocs() []*structs.Allocation {
	out := make([]*structs.Allocation, 0, len(s.t.allocs))
	for _, a := range s.t.allocs {
		out = append(out, a)
	}
	sortAllocs(out)
	return out
}

// AllocsByNode lists a node's allocations, sorted by id.
func (s *Snapshot) AllocsByNode(nodeID string) []*structs.Allocation {
	return s.collect(s.t.allocByNode[nodeID])
}

// AllocsByJob lists a job's allocations, sorted by id.
func (s *Snapshot) AllocsByJob(ns, id string) []*structs.Allocation {
	return s.collect(s.t.allocByJob[jobKey{ns, id}])
}

func (s *Snapshot) collect(ids map[string]struct{}) []*structs.Allocation {
	out := make([]*structs.Allocation, 0, len(ids))
	for id := range ids {
		out = append(out, s.t.allocs[id])
	}
	sortAllocs(out)
	return out
}

func sortAllocs(a []*structs.Allocation) {
	sort.Slice(a, func(i, k int) bool { return a[i].Id < a[k].Id })
}

// Eval returns the evaluation, or nil.
func (s *Snapshot) Eval(id string) *structs.Evaluation { return s.t.evals[id] }

// Evals lists every evaluation, sorted by id.
func (s *Snapshot) Evals() []*structs.Evaluation {
	out := make([]*structs.Evaluation, 0, len(s.t.evals))
	for _, e := range s.t.evals {
		out = append(out, e)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Id < out[k].Id })
	return out
}

// EvalsByJob lists a job's evaluations, sorted by id.
func (s *Snapshot) EvalsByJob(ns, id string) []*structs.Evaluation {
	var out []*structs.Evaluation
	for _, e := range s.t.evals {
		if e.Namespace == ns && e.JobId == id {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Id < out[k].Id })
	return out
}

// Persist copies the snapshot into the message written to raft snapshots.
func (s *Snapshot) Persist() *structs.StateSnapshot {
	return &structs.StateSnapshot{
		Index:       s.t.index,
		Jobs:        s.Jobs("", ""),
		Nodes:       s.Nodes(),
		Allocations: s.Allocs(),
		Evals:       s.Evals(),
	}
}
