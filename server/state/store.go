// Package state is the server's in-memory view of the cluster: jobs (and
// their kept versions), nodes, allocations, evaluations and the scheduler
// configuration as of a raft index, with point-in-time snapshots for
// readers and a watch channel for blocking queries.
//
// Every table is a persistent (immutable) radix tree: a write transaction
// builds new trees that share everything it did not touch with the old
// ones, and a snapshot is a copy of the tables' roots, so it costs O(1)
// however large the state is. Objects handed out and taken in are treated
// as immutable: writers replace them, never mutate them.
package state

import (
	"context"
	"sync"

	iradix "github.com/hashicorp/go-immutable-radix/v2"

	"github.com/droverhq/drover/structs"
)

// tables is the data shared by Store, Txn and Snapshot: one immutable tree
// per table and per secondary index.
type tables struct {
	index uint64
	// jobs is keyed by namespace\x00id.
	jobs *iradix.Tree[*structs.Job]
	// jobVersions is keyed by namespace\x00id\x00version (8 bytes, big endian).
	jobVersions *iradix.Tree[*structs.Job]
	nodes       *iradix.Tree[*structs.Node]
	allocs      *iradix.Tree[*structs.Allocation]
	// allocByNode is keyed by node\x00alloc, allocByJob by namespace\x00job\x00alloc.
	allocByNode *iradix.Tree[*structs.Allocation]
	allocByJob  *iradix.Tree[*structs.Allocation]
	evals       *iradix.Tree[*structs.Evaluation]
	// evalByJob is keyed by namespace\x00job\x00eval.
	evalByJob   *iradix.Tree[*structs.Evaluation]
	schedConfig *structs.SchedulerConfiguration
}

// roots is a read-only view of tables: their trees' roots.
type roots struct {
	index                           uint64
	jobs, jobVersions               *iradix.Node[*structs.Job]
	nodes                           *iradix.Node[*structs.Node]
	allocs, allocByNode, allocByJob *iradix.Node[*structs.Allocation]
	evals, evalByJob                *iradix.Node[*structs.Evaluation]
	schedConfig                     *structs.SchedulerConfiguration
}

func (t tables) roots() roots {
	return roots{
		index: t.index, jobs: t.jobs.Root(), jobVersions: t.jobVersions.Root(),
		nodes: t.nodes.Root(), allocs: t.allocs.Root(), allocByNode: t.allocByNode.Root(),
		allocByJob: t.allocByJob.Root(), evals: t.evals.Root(), evalByJob: t.evalByJob.Root(),
		schedConfig: t.schedConfig,
	}
}

func newTables() tables {
	return tables{
		jobs:        iradix.New[*structs.Job](),
		jobVersions: iradix.New[*structs.Job](),
		nodes:       iradix.New[*structs.Node](),
		allocs:      iradix.New[*structs.Allocation](),
		allocByNode: iradix.New[*structs.Allocation](),
		allocByJob:  iradix.New[*structs.Allocation](),
		evals:       iradix.New[*structs.Evaluation](),
		evalByJob:   iradix.New[*structs.Evaluation](),
	}
}

// Store is the mutable state store. Only the FSM writes to it.
type Store struct {
	mu     sync.RWMutex
	t      tables
	notify chan struct{}
	// writeMu serialises write transactions; mu only guards the swap of t.
	writeMu sync.Mutex
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{t: newTables(), notify: make(chan struct{})}
}

// Snapshot returns a consistent, read-only view of the store as it is now.
// It copies the tables' roots only: O(1), whatever the size of the state.
func (s *Store) Snapshot() *Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &Snapshot{r: s.t.roots()}
}

// View runs f on a snapshot of the store. It is kept for readers that look
// at a few objects; since snapshots are free it is Snapshot with a callback.
func (s *Store) View(f func(v *Snapshot)) { f(s.Snapshot()) }

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

// publish swaps in new tables and wakes blocked readers.
func (s *Store) publish(t tables) {
	s.mu.Lock()
	s.t = t
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

// Restore replaces the whole content of the store with a snapshot's.
func (s *Store) Restore(snap *structs.StateSnapshot) {
	r := NewRestorer()
	for _, j := range snap.GetJobs() {
		r.job(j)
	}
	for _, j := range snap.GetJobVersions() {
		r.jobVersion(j)
	}
	for _, n := range snap.GetNodes() {
		r.tx.UpsertNode(n)
	}
	for _, a := range snap.GetAllocations() {
		r.tx.UpsertAlloc(a)
	}
	for _, e := range snap.GetEvals() {
		r.tx.UpsertEval(e)
	}
	if c := snap.GetSchedulerConfig(); c != nil {
		r.tx.SetSchedulerConfig(c)
	}
	s.Install(r, snap.GetIndex())
}
