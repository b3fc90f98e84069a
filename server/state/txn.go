package state

import (
	"encoding/binary"

	iradix "github.com/hashicorp/go-immutable-radix/v2"

	"github.com/droverhq/drover/structs"
)

// Txn is a write transaction. One runs at a time (Begin waits for the
// previous one to end); readers keep seeing the tables as they were until
// Commit publishes the new ones, so they never see a half-applied change.
type Txn struct {
	s *Store
	// base is the tables the transaction started from.
	base tables
	// Lazily opened writers, one per tree.
	jobs, jobVersions *tree[*structs.Job]
	nodes             *tree[*structs.Node]
	allocs, byNode    *tree[*structs.Allocation]
	byJob             *tree[*structs.Allocation]
	evals, evalByJob  *tree[*structs.Evaluation]
	schedConfig       *structs.SchedulerConfiguration
	done              bool
}

// tree is one table inside a transaction: reads go to the writer once it
// exists, else to the base tree.
type tree[T any] struct {
	base *iradix.Tree[T]
	txn  *iradix.Txn[T]
}

func newTree[T any](base *iradix.Tree[T]) *tree[T] { return &tree[T]{base: base} }

func (t *tree[T]) get(k []byte) (T, bool) {
	if t.txn != nil {
		return t.txn.Get(k)
	}
	return t.base.Get(k)
}

func (t *tree[T]) w() *iradix.Txn[T] {
	if t.txn == nil {
		t.txn = t.base.Txn()
	}
	return t.txn
}

func (t *tree[T]) insert(k []byte, v T) { t.w().Insert(k, v) }
func (t *tree[T]) delete(k []byte)      { t.w().Delete(k) }

// root is the tree as the transaction left it so far.
func (t *tree[T]) root() *iradix.Node[T] {
	if t.txn != nil {
		return t.txn.Root()
	}
	return t.base.Root()
}

func (t *tree[T]) commit() *iradix.Tree[T] {
	if t.txn == nil {
		return t.base
	}
	return t.txn.CommitOnly()
}

// Begin starts a write transaction. Callers must Commit or Abort it.
func (s *Store) Begin() *Txn {
	s.writeMu.Lock()
	s.mu.RLock()
	base := s.t
	s.mu.RUnlock()
	return newTxn(s, base)
}

func newTxn(s *Store, base tables) *Txn {
	return &Txn{
		s: s, base: base,
		jobs: newTree(base.jobs), jobVersions: newTree(base.jobVersions),
		nodes: newTree(base.nodes), allocs: newTree(base.allocs),
		byNode: newTree(base.allocByNode), byJob: newTree(base.allocByJob),
		evals: newTree(base.evals), evalByJob: newTree(base.evalByJob),
		schedConfig: base.schedConfig,
	}
}

// tables returns what the transaction built, at index.
func (tx *Txn) tables(index uint64) tables {
	return tables{
		index: max(index, tx.base.index),
		jobs:  tx.jobs.commit(), jobVersions: tx.jobVersions.commit(),
		nodes: tx.nodes.commit(), allocs: tx.allocs.commit(),
		allocByNode: tx.byNode.commit(), allocByJob: tx.byJob.commit(),
		evals: tx.evals.commit(), evalByJob: tx.evalByJob.commit(),
		schedConfig: tx.schedConfig,
	}
}

// Commit publishes the transaction's changes at index (the store's index
// never goes back) and wakes blocked readers.
func (tx *Txn) Commit(index uint64) {
	if tx.done {
		return
	}
	tx.done = true
	tx.s.publish(tx.tables(index))
	tx.s.writeMu.Unlock()
}

// Abort drops the transaction's changes.
func (tx *Txn) Abort() {
	if tx.done {
		return
	}
	tx.done = true
	tx.s.writeMu.Unlock()
}

// view is a snapshot of the transaction's changes so far. It must not be
// used after the transaction writes again.
func (tx *Txn) view() *Snapshot {
	return &Snapshot{r: roots{
		index: tx.base.index,
		jobs:  tx.jobs.root(), jobVersions: tx.jobVersions.root(),
		nodes: tx.nodes.root(), allocs: tx.allocs.root(),
		allocByNode: tx.byNode.root(), allocByJob: tx.byJob.root(),
		evals: tx.evals.root(), evalByJob: tx.evalByJob.root(),
		schedConfig: tx.schedConfig,
	}}
}

// Key builders. Ids never hold a NUL byte (job ids are validated; node,
// allocation and evaluation ids are UUIDs), so NUL separates key parts.
func key(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

func prefixKey(parts ...string) []byte { return append(key(parts...), 0) }

func versionKey(ns, id string, version uint64) []byte {
	return binary.BigEndian.AppendUint64(prefixKey(ns, id), version)
}

// Job returns a job read within the transaction.
func (tx *Txn) Job(ns, id string) *structs.Job {
	j, _ := tx.jobs.get(key(ns, id))
	return j
}

// Node returns a node read within the transaction.
func (tx *Txn) Node(id string) *structs.Node {
	n, _ := tx.nodes.get([]byte(id))
	return n
}

// Alloc returns an allocation read within the transaction.
func (tx *Txn) Alloc(id string) *structs.Allocation {
	a, _ := tx.allocs.get([]byte(id))
	return a
}

// Eval returns an evaluation read within the transaction.
func (tx *Txn) Eval(id string) *structs.Evaluation {
	e, _ := tx.evals.get([]byte(id))
	return e
}

// SchedulerConfig returns the scheduler configuration within the transaction, or nil.
func (tx *Txn) SchedulerConfig() *structs.SchedulerConfiguration { return tx.schedConfig }

// AllocsByNode lists a node's allocations within the transaction.
func (tx *Txn) AllocsByNode(nodeID string) []*structs.Allocation {
	return collect(tx.byNode.root(), prefixKey(nodeID))
}

// AllocsByJob lists a job's allocations within the transaction.
func (tx *Txn) AllocsByJob(ns, id string) []*structs.Allocation {
	return collect(tx.byJob.root(), prefixKey(ns, id))
}

// EachAllocOfJob calls f for the job's allocations, in id order, until f
// returns false.
func (tx *Txn) EachAllocOfJob(ns, id string, f func(*structs.Allocation) bool) {
	each(tx.byJob.root(), prefixKey(ns, id), f)
}

// JobVersions lists the job's kept versions within the transaction, newest first.
func (tx *Txn) JobVersions(ns, id string) []*structs.Job {
	return reversed(collect(tx.jobVersions.root(), prefixKey(ns, id)))
}

// UpsertJob stores a job as its current version; it does not record the
// version in the history (see UpsertJobVersion).
func (tx *Txn) UpsertJob(j *structs.Job) {
	tx.jobs.insert(key(j.Namespace, j.Id), j)
}

// UpsertJobVersion stores j as the job's current version and records it in
// the history, keeping at most keep versions (0 keeps them all).
func (tx *Txn) UpsertJobVersion(j *structs.Job, keep int) {
	tx.UpsertJob(j)
	tx.jobVersions.insert(versionKey(j.Namespace, j.Id, j.Version), j)
	if keep <= 0 {
		return
	}
	versions := tx.JobVersions(j.Namespace, j.Id)
	for _, old := range versions[min(keep, len(versions)):] {
		tx.jobVersions.delete(versionKey(old.Namespace, old.Id, old.Version))
	}
}

// DeleteJob removes a job and its versions (its allocations and evaluations stay).
func (tx *Txn) DeleteJob(ns, id string) {
	tx.jobs.delete(key(ns, id))
	for _, v := range tx.JobVersions(ns, id) {
		tx.jobVersions.delete(versionKey(ns, id, v.Version))
	}
}

// UpsertNode stores a node.
func (tx *Txn) UpsertNode(n *structs.Node) { tx.nodes.insert([]byte(n.Id), n) }

// DeleteNode removes a node (its allocations are removed separately).
func (tx *Txn) DeleteNode(id string) { tx.nodes.delete([]byte(id)) }

// UpsertEval stores an evaluation and indexes it by job.
func (tx *Txn) UpsertEval(e *structs.Evaluation) {
	if old := tx.Eval(e.Id); old != nil && (old.Namespace != e.Namespace || old.JobId != e.JobId) {
		tx.evalByJob.delete(key(old.Namespace, old.JobId, old.Id))
	}
	tx.evals.insert([]byte(e.Id), e)
	tx.evalByJob.insert(key(e.Namespace, e.JobId, e.Id), e)
}

// DeleteEval removes an evaluation.
func (tx *Txn) DeleteEval(id string) {
	old := tx.Eval(id)
	if old == nil {
		return
	}
	tx.evals.delete([]byte(id))
	tx.evalByJob.delete(key(old.Namespace, old.JobId, old.Id))
}

// UpsertAlloc stores an allocation and indexes it by node and job.
func (tx *Txn) UpsertAlloc(a *structs.Allocation) {
	if old := tx.Alloc(a.Id); old != nil {
		if old.NodeId != a.NodeId {
			tx.byNode.delete(key(old.NodeId, old.Id))
		}
		if old.Namespace != a.Namespace || old.JobId != a.JobId {
			tx.byJob.delete(key(old.Namespace, old.JobId, old.Id))
		}
	}
	tx.allocs.insert([]byte(a.Id), a)
	tx.byNode.insert(key(a.NodeId, a.Id), a)
	tx.byJob.insert(key(a.Namespace, a.JobId, a.Id), a)
}

// DeleteAlloc removes an allocation and its index entries.
func (tx *Txn) DeleteAlloc(id string) {
	old := tx.Alloc(id)
	if old == nil {
		return
	}
	tx.allocs.delete([]byte(id))
	tx.byNode.delete(key(old.NodeId, old.Id))
	tx.byJob.delete(key(old.Namespace, old.JobId, old.Id))
}

// SetSchedulerConfig stores the scheduler configuration.
func (tx *Txn) SetSchedulerConfig(c *structs.SchedulerConfiguration) { tx.schedConfig = c }
