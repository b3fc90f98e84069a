// Package state is the server's in-memory view of the cluster: jobs (and
// their kept versions), nodes, allocations, evaluations, deployments and
// the scheduler configuration, ACL policies and tokens as of a raft index, with point-in-time snapshots for
// readers and a watch channel for blocking queries.
//
// Every table is a persistent (copy-on-write) B+tree: a write transaction
// builds new trees that share everything it did not touch with the old
// ones, and a snapshot is a copy of the tables' roots, so it costs O(1)
// however large the state is. Objects handed out and taken in are treated
// as immutable: writers replace them, never mutate them.
package state

import (
	"context"
	"sync"

	"github.com/droverhq/drover/structs"
)

// tables is the data shared by Store, Txn and Snapshot: one persistent
// B+tree per table and per secondary index.
type tables struct {
	index uint64
	// jobs is keyed by namespace\x00id.
	jobs btree[*structs.Job]
	// jobsByType is keyed by type\x00namespace\x00id.
	jobsByType btree[*structs.Job]
	// jobVersions is keyed by namespace\x00id\x00version (8 bytes, big endian).
	jobVersions btree[*structs.Job]
	nodes       btree[*structs.Node]
	allocs      btree[*structs.Allocation]
	// allocByNode is keyed by node\x00alloc, allocByJob by namespace\x00job\x00alloc.
	allocByNode btree[nodeAlloc]
	allocByJob  btree[*structs.Allocation]
	evals       btree[*structs.Evaluation]
	// evalByJob is keyed by namespace\x00job\x00eval.
	evalByJob   btree[*structs.Evaluation]
	schedConfig *structs.SchedulerConfiguration
	// summaries is keyed by namespace\x00job; derived from allocs and
	// evals (see summary.go).
	summaries btree[*structs.JobSummary]
	// aclPolicies is keyed by name, aclTokens by accessor id and
	// aclTokensBySecret by secret id.
	aclPolicies       btree[*structs.ACLPolicy]
	aclTokens         btree[*structs.ACLToken]
	aclTokensBySecret btree[*structs.ACLToken]
	// meta holds the ACL bootstrap index and the server secret; nil
	// before either is set.
	meta *structs.ClusterMeta
	// deployments is keyed by id, deploymentsByJob by
	// namespace\x00job\x00id; deploymentsActive holds the running and
	// paused ones, by id.
	deployments       btree[*structs.Deployment]
	deploymentsByJob  btree[*structs.Deployment]
	deploymentsActive btree[*structs.Deployment]
	// services is keyed by id, servicesByName by
	// namespace\x00service\x00id, servicesByAlloc by alloc\x00id.
	services        btree[*structs.ServiceRegistration]
	servicesByName  btree[*structs.ServiceRegistration]
	servicesByAlloc btree[*structs.ServiceRegistration]
	// variables is keyed by namespace\x00path, rootKeys by key id.
	variables btree[*structs.Variable]
	rootKeys  btree[*structs.RootKey]
	// periodicLaunches and scalingEvents are keyed by namespace\x00job.
	periodicLaunches btree[*structs.PeriodicLaunch]
	scalingEvents    btree[*structs.JobScalingEvents]
	// usage is keyed by node id; derived from allocs (see usage.go).
	usage btree[*nodeUsage]
}

func newTables() tables { return tables{} }

// Store is the mutable state store. Only the FSM writes to it.
type Store struct {
	mu     sync.RWMutex
	t      tables
	notify chan struct{}
	// writeMu serialises write transactions; mu only guards the swap of t.
	writeMu sync.Mutex
	// nodes wake the blocking queries on single nodes' allocations.
	nodes nodeWatches
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
	return &Snapshot{t: s.t}
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

// NotifyAfter returns a channel that is closed once the store's index
// exceeds min (at once if it already does): a loop can wait on it beside
// timers of its own.
func (s *Store) NotifyAfter(min uint64) <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.t.index > min {
		return closedChan
	}
	return s.notify
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

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
		r.alloc(a)
	}
	for _, e := range snap.GetEvals() {
		r.tx.UpsertEval(e)
	}
	if c := snap.GetSchedulerConfig(); c != nil {
		r.tx.SetSchedulerConfig(c)
	}
	for _, p := range snap.GetAclPolicies() {
		r.tx.UpsertACLPolicy(p)
	}
	for _, t := range snap.GetAclTokens() {
		r.tx.UpsertACLToken(t)
	}
	if m := snap.GetClusterMeta(); m != nil {
		r.tx.t.meta = m
	}
	for _, d := range snap.GetDeployments() {
		r.tx.UpsertDeployment(d)
	}
	for _, sr := range snap.GetServiceRegistrations() {
		r.tx.UpsertServiceRegistration(sr)
	}
	for _, v := range snap.GetVariables() {
		r.tx.UpsertVariable(v)
	}
	for _, k := range snap.GetRootKeys() {
		r.tx.UpsertRootKey(k)
	}
	for _, l := range snap.GetPeriodicLaunches() {
		r.tx.SetPeriodicLaunch(l)
	}
	for _, e := range snap.GetScalingEvents() {
		r.tx.t.scalingEvents = r.tx.t.scalingEvents.set(r.tx.o, key(e.Namespace, e.JobId), e)
	}
	s.Install(r, snap.GetIndex())
}
