package broker

import (
	"sync"

	"github.com/droverhq/drover/structs"
)

// Blocked holds evaluations that could not place everything, one per
// job (the newest wins), until capacity they could use appears: a node of
// a class they found eligible (or have not seen) joins, frees room or
// changes. An evaluation whose constraints look at node-unique values
// (escaped_computed_class) wakes on any change. Leader only.
//
// An evaluation scheduled on a snapshot older than a relevant capacity
// change is not parked: the change it missed might let it place, so it
// goes back to the broker at once. Without this, a node joining between
// the scheduling pass and the blocked evaluation's commit would be missed.
type Blocked struct {
	mu      sync.Mutex
	enabled bool
	byJob   map[string]*structs.Evaluation
	// lastChange is the raft index of the latest capacity change of any
	// class; classChange the latest per computed class.
	lastChange  uint64
	classChange map[string]uint64
}

// NewBlocked returns a disabled set; SetEnabled turns it on.
func NewBlocked() *Blocked {
	return &Blocked{byJob: map[string]*structs.Evaluation{}, classChange: map[string]uint64{}}
}

// SetEnabled turns tracking on or off. Turning it on at index treats every
// evaluation blocked before index as having missed a change: a new leader
// cannot know what happened while there was none.
func (b *Blocked) SetEnabled(on bool, index uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enabled = on
	b.lastChange = index
	b.classChange = map[string]uint64{"": index}
	b.byJob = map[string]*structs.Evaluation{}
}

// wakes reports whether a capacity change of class may help e.
func wakes(e *structs.Evaluation, class string) bool {
	if class == "" || e.EscapedComputedClass {
		return true
	}
	eligible, known := e.ClassEligibility[class]
	return !known || eligible
}

// Block parks an evaluation, reporting false when it must be retried now
// instead: it was scheduled before a capacity change that may help it.
func (b *Blocked) Block(e *structs.Evaluation) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.enabled {
		return true
	}
	for class, idx := range b.classChange {
		if idx > e.SnapshotIndex && wakes(e, class) {
			return false
		}
	}
	k := jobKeyOf(e)
	if old := b.byJob[k]; old != nil && old.ModifyIndex > e.ModifyIndex {
		return true
	}
	b.byJob[k] = e
	return true
}

// Forget drops a job's parked evaluation once a newer one supersedes it.
func (b *Blocked) Forget(e *structs.Evaluation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := jobKeyOf(e)
	if old := b.byJob[k]; old != nil && old.Id != e.Id && old.ModifyIndex <= e.ModifyIndex {
		delete(b.byJob, k)
	}
}

// Unblock records a capacity change at index on nodes of the given
// computed classes ("" for unknown) and returns, forgetting them, the
// parked evaluations the change may help.
func (b *Blocked) Unblock(index uint64, classes map[string]bool) []*structs.Evaluation {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastChange = max(b.lastChange, index)
	for c := range classes {
		b.classChange[c] = max(b.classChange[c], index)
	}
	var out []*structs.Evaluation
	for k, e := range b.byJob {
		for c := range classes {
			if wakes(e, c) {
				out = append(out, e)
				delete(b.byJob, k)
				break
			}
		}
	}
	return out
}

// Count is how many evaluations are parked.
func (b *Blocked) Count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.byJob)
}
