package state

import (
	"encoding/binary"
	"unsafe"

	"github.com/droverhq/drover/structs"
)

// Txn is a write transaction. One runs at a time (Begin waits for the
// previous one to end); readers keep seeing the tables as they were until
// Commit publishes the new ones, so they never see a half-applied change.
type Txn struct {
	s *Store
	t tables
	// o owns the tree nodes this transaction created; it is dropped at
	// Commit, after which they are never changed again.
	o    *owner
	done bool
	// requeued are the jobs whose summaries' queued counts are recomputed
	// at commit.
	requeued map[jobKey]bool
	// allocNodes are the nodes whose allocations the transaction changes:
	// true when the servers changed them, false for the nodes' own status
	// reports only.
	allocNodes map[string]bool
	// allocsRemoved are the nodes the transaction takes allocations from.
	allocsRemoved map[string]bool
	// written holds the allocations the transaction stored (nil: deleted),
	// so that reading them back (the FSM's events, a later command of the
	// same batch) skips a search of the whole table.
	written map[string]*structs.Allocation
	// keyBuf builds index keys for lookups that keep no key (see
	// scratchKey).
	keyBuf []byte
	// ownSummaries are the job summaries the transaction made and
	// ownGroups their groups' counts: no snapshot can see them before
	// Commit, so the transaction's later changes edit them in place.
	ownSummaries map[*structs.JobSummary]bool
	ownGroups    map[*structs.TaskGroupSummary]bool
}

// Begin starts a write transaction. Callers must Commit or Abort it.
func (s *Store) Begin() *Txn {
	s.writeMu.Lock()
	s.mu.RLock()
	base := s.t
	s.mu.RUnlock()
	return &Txn{s: s, t: base, o: &owner{}}
}

// Commit publishes the transaction's changes at index (the store's index
// never goes back) and wakes blocked readers.
func (tx *Txn) Commit(index uint64) {
	if tx.done {
		return
	}
	tx.finishSummaries()
	tx.done = true
	tx.o = nil
	tx.t.index = max(index, tx.t.index)
	tx.s.publish(tx.t)
	tx.s.nodeAllocsChanged(tx.allocNodes, tx.allocsRemoved, tx.t.index)
	tx.allocNodes, tx.allocsRemoved = nil, nil
	tx.written = nil
	tx.ownSummaries, tx.ownGroups = nil, nil
	tx.s.writeMu.Unlock()
}

// Abort drops the transaction's changes.
func (tx *Txn) Abort() {
	if tx.done {
		return
	}
	tx.done = true
	tx.o = nil
	tx.requeued = nil
	tx.allocNodes, tx.allocsRemoved = nil, nil
	tx.written = nil
	tx.ownSummaries, tx.ownGroups = nil, nil
	tx.s.writeMu.Unlock()
}

// Key builders. Ids never hold a NUL byte (job ids are validated; node,
// allocation and evaluation ids are UUIDs), so NUL separates key parts.
func key(parts ...string) string {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	b := appendKey(make([]byte, 0, n), parts...)
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is never written again
}

// appendKey appends the key of parts to b.
func appendKey(b []byte, parts ...string) []byte {
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

func prefixKey(parts ...string) string { return key(parts...) + "\x00" }

// scratchKey is key(parts...) built in the transaction's buffer: valid
// until the next call, for a lookup, or for btree.setKeeping, which keeps
// a copy only when it inserts.
func (tx *Txn) scratchKey(parts ...string) string {
	tx.keyBuf = appendKey(tx.keyBuf[:0], parts...)
	return unsafe.String(unsafe.SliceData(tx.keyBuf), len(tx.keyBuf))
}

func versionKey(ns, id string, version uint64) string {
	return string(binary.BigEndian.AppendUint64([]byte(prefixKey(ns, id)), version))
}

// Job returns a job read within the transaction.
func (tx *Txn) Job(ns, id string) *structs.Job {
	j, _ := tx.t.jobs.get(key(ns, id))
	return j
}

// Node returns a node read within the transaction.
func (tx *Txn) Node(id string) *structs.Node {
	n, _ := tx.t.nodes.get(id)
	return n
}

// Alloc returns an allocation read within the transaction.
func (tx *Txn) Alloc(id string) *structs.Allocation {
	if a, ok := tx.written[id]; ok {
		return a
	}
	a, _ := tx.t.allocs.get(id)
	return a
}

// maxWritten bounds the allocations a transaction remembers: a restore
// writes every allocation in one transaction.
const maxWritten = 4096

// wrote notes the allocation stored under id (nil: deleted) for Alloc.
func (tx *Txn) wrote(id string, a *structs.Allocation) {
	switch {
	case tx.written == nil:
		tx.written = map[string]*structs.Allocation{}
	case len(tx.written) >= maxWritten:
		clear(tx.written)
	}
	tx.written[id] = a
}

// Eval returns an evaluation read within the transaction.
func (tx *Txn) Eval(id string) *structs.Evaluation {
	e, _ := tx.t.evals.get(id)
	return e
}

// SchedulerConfig returns the scheduler configuration within the transaction, or nil.
func (tx *Txn) SchedulerConfig() *structs.SchedulerConfiguration { return tx.t.schedConfig }

// AllocsByNode lists a node's allocations within the transaction.
func (tx *Txn) AllocsByNode(nodeID string) []*structs.Allocation {
	return allocsOfNode(tx.t.allocByNode, nodeID)
}

// AllocsByJob lists a job's allocations within the transaction.
func (tx *Txn) AllocsByJob(ns, id string) []*structs.Allocation {
	return collect(tx.t.allocByJob, prefixKey(ns, id))
}

// EachAllocOfJob calls f for the job's allocations, in id order, until f
// returns false.
func (tx *Txn) EachAllocOfJob(ns, id string, f func(*structs.Allocation) bool) {
	each(tx.t.allocByJob, prefixKey(ns, id), f)
}

// JobVersions lists the job's kept versions within the transaction, newest first.
func (tx *Txn) JobVersions(ns, id string) []*structs.Job {
	return reversed(collect(tx.t.jobVersions, prefixKey(ns, id)))
}

// UpsertJob stores a job as its current version; it does not record the
// version in the history (see UpsertJobVersion).
func (tx *Txn) UpsertJob(j *structs.Job) {
	if old := tx.Job(j.Namespace, j.Id); old != nil && old.Type != j.Type {
		tx.t.jobsByType = tx.t.jobsByType.del(tx.o, key(old.Type, old.Namespace, old.Id))
	}
	tx.t.jobs = tx.t.jobs.set(tx.o, key(j.Namespace, j.Id), j)
	tx.t.jobsByType = tx.t.jobsByType.set(tx.o, key(j.Type, j.Namespace, j.Id), j)
}

// UpsertJobVersion stores j as the job's current version and records it in
// the history, keeping at most keep versions (0 keeps them all).
func (tx *Txn) UpsertJobVersion(j *structs.Job, keep int) {
	tx.UpsertJob(j)
	tx.t.jobVersions = tx.t.jobVersions.set(tx.o, versionKey(j.Namespace, j.Id, j.Version), j)
	if keep <= 0 {
		return
	}
	versions := tx.JobVersions(j.Namespace, j.Id)
	for _, old := range versions[min(keep, len(versions)):] {
		tx.t.jobVersions = tx.t.jobVersions.del(tx.o, versionKey(old.Namespace, old.Id, old.Version))
	}
}

// DeleteJob removes a job and its versions (its allocations and evaluations stay).
func (tx *Txn) DeleteJob(ns, id string) {
	if old := tx.Job(ns, id); old != nil {
		tx.t.jobsByType = tx.t.jobsByType.del(tx.o, key(old.Type, ns, id))
	}
	tx.t.jobs = tx.t.jobs.del(tx.o, key(ns, id))
	for _, v := range tx.JobVersions(ns, id) {
		tx.t.jobVersions = tx.t.jobVersions.del(tx.o, versionKey(ns, id, v.Version))
	}
	tx.deleteBatchState(ns, id)
}

// UpsertNode stores a node.
func (tx *Txn) UpsertNode(n *structs.Node) { tx.t.nodes = tx.t.nodes.set(tx.o, n.Id, n) }

// DeleteNode removes a node (its allocations are removed separately).
func (tx *Txn) DeleteNode(id string) { tx.t.nodes = tx.t.nodes.del(tx.o, id) }

// UpsertEval stores an evaluation and indexes it by job.
func (tx *Txn) UpsertEval(e *structs.Evaluation) {
	old := tx.Eval(e.Id)
	if old != nil && (old.Namespace != e.Namespace || old.JobId != e.JobId) {
		tx.t.evalByJob = tx.t.evalByJob.del(tx.o, key(old.Namespace, old.JobId, old.Id))
		tx.forgetEval(old)
		old = nil
	}
	tx.t.evals = tx.t.evals.set(tx.o, e.Id, e)
	tx.t.evalByJob = tx.t.evalByJob.set(tx.o, key(e.Namespace, e.JobId, e.Id), e)
	tx.summarizeEval(e, old)
}

// DeleteEval removes an evaluation.
func (tx *Txn) DeleteEval(id string) {
	old := tx.Eval(id)
	if old == nil {
		return
	}
	tx.t.evals = tx.t.evals.del(tx.o, id)
	tx.t.evalByJob = tx.t.evalByJob.del(tx.o, key(old.Namespace, old.JobId, old.Id))
	tx.forgetEval(old)
}

// UpsertAlloc stores an allocation and indexes it by node and job. It is
// a change by the servers: it sets a.AllocModifyIndex to a.ModifyIndex,
// which the caller set to the commit's index, so that a client that keeps
// its own reports (NodeAllocsChange with serverOnly) learns of it.
func (tx *Txn) UpsertAlloc(a *structs.Allocation) {
	a.AllocModifyIndex = a.ModifyIndex
	tx.upsertAlloc(a, tx.Alloc(a.Id), true)
}

// ReportAlloc stores what the allocation's node reported about it (its
// client status, task states, health): old is the stored version, which
// the caller just read (tx.Alloc(a.Id)), and a keeps its node, job and
// AllocModifyIndex. Long-polls of the node that keep their own reports are
// not woken by it.
func (tx *Txn) ReportAlloc(a, old *structs.Allocation) { tx.upsertAlloc(a, old, false) }

// upsertAlloc stores a, replacing old (nil when a is new); byServer is
// false for a node's report about its allocation.
func (tx *Txn) upsertAlloc(a, old *structs.Allocation, byServer bool) {
	tx.touchNode(a.NodeId, byServer)
	if old != nil {
		if old.NodeId != a.NodeId {
			tx.removeFromNode(old.NodeId)
			tx.t.allocByNode = tx.t.allocByNode.del(tx.o, key(old.NodeId, old.Id))
		}
		if old.Namespace != a.Namespace || old.JobId != a.JobId {
			tx.t.allocByJob = tx.t.allocByJob.del(tx.o, key(old.Namespace, old.JobId, old.Id))
		}
	}
	tx.t.allocs = tx.t.allocs.set(tx.o, a.Id, a)
	tx.wrote(a.Id, a)
	// An update keeps its index keys: look them up without building new
	// strings (setKeeping copies the key only if it inserts).
	tx.t.allocByNode = tx.t.allocByNode.setKeeping(tx.o, tx.scratchKey(a.NodeId, a.Id), nodeAlloc{a, a.AllocModifyIndex})
	tx.t.allocByJob = tx.t.allocByJob.setKeeping(tx.o, tx.scratchKey(a.Namespace, a.JobId, a.Id), a)
	tx.summarizeAlloc(a, old)
	tx.useAlloc(a, old)
	if a.ClientTerminal() && (old == nil || !old.ClientTerminal()) {
		tx.DeleteAllocServices(a.Id)
	}
}

// DeleteAlloc removes an allocation and its index entries.
func (tx *Txn) DeleteAlloc(id string) {
	old := tx.Alloc(id)
	if old == nil {
		return
	}
	tx.removeFromNode(old.NodeId)
	tx.t.allocs = tx.t.allocs.del(tx.o, id)
	tx.wrote(id, nil)
	tx.t.allocByNode = tx.t.allocByNode.del(tx.o, tx.scratchKey(old.NodeId, old.Id))
	tx.t.allocByJob = tx.t.allocByJob.del(tx.o, tx.scratchKey(old.Namespace, old.JobId, old.Id))
	tx.summarizeAlloc(nil, old)
	tx.useAlloc(nil, old)
	tx.DeleteAllocServices(id)
}

// SetSchedulerConfig stores the scheduler configuration.
func (tx *Txn) SetSchedulerConfig(c *structs.SchedulerConfiguration) { tx.t.schedConfig = c }
