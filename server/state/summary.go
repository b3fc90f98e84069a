package state

import (
	"maps"

	"github.com/droverhq/drover/structs"
)

// Job summaries count, per job and task group, the job's allocations in
// each client status and the placements its latest evaluation left
// queued. They are derived from the allocation and evaluation tables and
// changed by the same transactions, one small update per allocation whose
// client status moves, so reading a job's summary costs a lookup however
// many allocations the job has. A summary is a function of the tables
// alone (not of the order of the writes), so a server that restored a
// snapshot holds the same summaries as one that applied the log.

// JobSummary returns the job's summary, or nil when it has neither
// allocations nor queued placements.
func (s *Snapshot) JobSummary(ns, id string) *structs.JobSummary {
	js, _ := s.t.summaries.get(key(ns, id))
	return js
}

// JobSummary returns the job's summary within the transaction, or nil.
func (tx *Txn) JobSummary(ns, id string) *structs.JobSummary {
	js, _ := tx.t.summaries.get(key(ns, id))
	return js
}

// summaryBucket is the count an allocation in a client status adds to.
func summaryBucket(g *structs.TaskGroupSummary, clientStatus string) *int32 {
	switch clientStatus {
	case structs.AllocClientPending, "":
		return &g.Starting
	case structs.AllocClientRunning:
		return &g.Running
	case structs.AllocClientComplete:
		return &g.Complete
	case structs.AllocClientFailed:
		return &g.Failed
	case structs.AllocClientLost:
		return &g.Lost
	case allocClientUnknown:
		return &g.Unknown
	}
	return nil
}

// allocClientUnknown is the status of an allocation whose node stopped
// heartbeating within the group's disconnect window.
const allocClientUnknown = "unknown"

// summaryEdit is a job's summary being changed: one the transaction made.
type summaryEdit struct {
	js *structs.JobSummary
	// stored says js is in the transaction's table already.
	stored bool
	// own are the group counts the transaction made (Txn.ownGroups).
	own map[*structs.TaskGroupSummary]bool
}

// editSummary starts a change to the job's summary: the transaction's own
// copy, made by an earlier change of the same transaction (which no
// snapshot can see yet), or else a new copy of the stored one (a stored
// one a snapshot may hold is never modified), or a new one. A plan of a
// thousand placements thus copies its job's summary once, not a thousand
// times.
func (tx *Txn) editSummary(ns, id string) summaryEdit {
	old := tx.JobSummary(ns, id)
	if old != nil && tx.ownSummaries[old] {
		return summaryEdit{js: old, stored: true, own: tx.ownGroups}
	}
	if tx.ownSummaries == nil {
		tx.ownSummaries = map[*structs.JobSummary]bool{}
		tx.ownGroups = map[*structs.TaskGroupSummary]bool{}
	}
	js := &structs.JobSummary{Namespace: ns, JobId: id}
	if old != nil {
		js.Groups, js.ModifyIndex = maps.Clone(old.Groups), old.ModifyIndex
		js.QueuedEvalId, js.QueuedIndex = old.QueuedEvalId, old.QueuedIndex
	}
	if js.Groups == nil {
		js.Groups = map[string]*structs.TaskGroupSummary{}
	}
	tx.ownSummaries[js] = true
	return summaryEdit{js: js, own: tx.ownGroups}
}

// group returns a group's counts to modify: the transaction's own, or a
// new copy.
func (e summaryEdit) group(name string) *structs.TaskGroupSummary {
	old := e.js.Groups[name]
	if old != nil && e.own[old] {
		return old
	}
	g := &structs.TaskGroupSummary{}
	if old != nil {
		*g = structs.TaskGroupSummary{
			Queued: old.Queued, Starting: old.Starting, Running: old.Running, Complete: old.Complete,
			Failed: old.Failed, Lost: old.Lost, Unknown: old.Unknown,
		}
	}
	e.js.Groups[name] = g
	e.own[g] = true
	return g
}

// count adds delta to the bucket of an allocation of group in clientStatus.
func (e summaryEdit) count(group, clientStatus string, delta int32) {
	g := e.group(group)
	if b := summaryBucket(g, clientStatus); b != nil {
		*b = max(*b+delta, 0)
	}
}

// save stores the summary, or drops it when there is nothing left in it.
func (tx *Txn) saveSummary(e summaryEdit) {
	js := e.js
	for name, g := range js.Groups {
		if g.Queued == 0 && g.Starting == 0 && g.Running == 0 && g.Complete == 0 && g.Failed == 0 && g.Lost == 0 && g.Unknown == 0 {
			delete(js.Groups, name)
		}
	}
	if len(js.Groups) == 0 && js.QueuedEvalId == "" {
		tx.t.summaries = tx.t.summaries.del(tx.o, key(js.Namespace, js.JobId))
		return
	}
	if !e.stored {
		tx.t.summaries = tx.t.summaries.set(tx.o, key(js.Namespace, js.JobId), js)
	}
}

// summarizeAlloc moves a changed allocation between the counts: old (nil
// when new) leaves its bucket, a (nil when deleted) joins its own.
func (tx *Txn) summarizeAlloc(a, old *structs.Allocation) {
	if a != nil && old != nil && a.Namespace == old.Namespace && a.JobId == old.JobId &&
		a.TaskGroup == old.TaskGroup && a.ClientStatus == old.ClientStatus {
		return
	}
	if old != nil {
		e := tx.editSummary(old.Namespace, old.JobId)
		e.count(old.TaskGroup, old.ClientStatus, -1)
		if a != nil && a.Namespace == old.Namespace && a.JobId == old.JobId {
			e.count(a.TaskGroup, a.ClientStatus, 1)
			e.js.ModifyIndex = max(e.js.ModifyIndex, a.ModifyIndex)
			a = nil
		}
		tx.saveSummary(e)
	}
	if a != nil {
		e := tx.editSummary(a.Namespace, a.JobId)
		e.count(a.TaskGroup, a.ClientStatus, 1)
		e.js.ModifyIndex = max(e.js.ModifyIndex, a.ModifyIndex)
		tx.saveSummary(e)
	}
}

// laterEval reports whether e is newer than the summary's queued source.
func laterEval(e *structs.Evaluation, js *structs.JobSummary) bool {
	if js == nil || js.QueuedEvalId == "" {
		return true
	}
	if e.ModifyIndex != js.QueuedIndex {
		return e.ModifyIndex > js.QueuedIndex
	}
	return e.Id >= js.QueuedEvalId
}

// summarizeEval takes the queued counts of an upserted evaluation (old is
// its previous version, or nil) when it is the job's latest to report
// any; when the source of the counts no longer reports them, they are
// recomputed at commit.
func (tx *Txn) summarizeEval(e, old *structs.Evaluation) {
	js := tx.JobSummary(e.Namespace, e.JobId)
	if len(e.QueuedAllocations) > 0 && laterEval(e, js) {
		ed := tx.editSummary(e.Namespace, e.JobId)
		setQueued(ed, e)
		tx.saveSummary(ed)
		return
	}
	if old != nil && js != nil && js.QueuedEvalId == old.Id {
		tx.requeue(e.Namespace, e.JobId)
	}
}

// forgetEval recomputes, at commit, the queued counts of a deleted
// evaluation's job if they came from it.
func (tx *Txn) forgetEval(old *structs.Evaluation) {
	if js := tx.JobSummary(old.Namespace, old.JobId); js != nil && js.QueuedEvalId == old.Id {
		tx.requeue(old.Namespace, old.JobId)
	}
}

func setQueued(ed summaryEdit, e *structs.Evaluation) {
	for name := range ed.js.Groups {
		if _, ok := e.QueuedAllocations[name]; !ok {
			ed.group(name).Queued = 0
		}
	}
	for name, n := range e.QueuedAllocations {
		ed.group(name).Queued = max(n, 0)
	}
	ed.js.QueuedEvalId, ed.js.QueuedIndex = e.Id, e.ModifyIndex
	ed.js.ModifyIndex = max(ed.js.ModifyIndex, e.ModifyIndex)
}

// requeue marks a job whose queued counts must be recomputed at commit:
// once per job and transaction, however many of its evaluations change.
func (tx *Txn) requeue(ns, id string) {
	if tx.requeued == nil {
		tx.requeued = map[jobKey]bool{}
	}
	tx.requeued[jobKey{ns, id}] = true
}

// finishSummaries recomputes the queued counts of the jobs marked by
// requeue from their latest evaluation that reports any.
func (tx *Txn) finishSummaries() {
	for k := range tx.requeued {
		var latest *structs.Evaluation
		each(tx.t.evalByJob, prefixKey(k.ns, k.id), func(e *structs.Evaluation) bool {
			if len(e.QueuedAllocations) > 0 && (latest == nil || e.ModifyIndex > latest.ModifyIndex ||
				(e.ModifyIndex == latest.ModifyIndex && e.Id > latest.Id)) {
				latest = e
			}
			return true
		})
		ed := tx.editSummary(k.ns, k.id)
		if latest != nil {
			setQueued(ed, latest)
		} else {
			for name := range ed.js.Groups {
				ed.group(name).Queued = 0
			}
			ed.js.QueuedEvalId, ed.js.QueuedIndex = "", 0
		}
		tx.saveSummary(ed)
	}
	tx.requeued = nil
}
