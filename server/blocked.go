package server

import (
	"sync"

	"github.com/droverhq/drover/structs"
)

// blockedEvals holds evaluations that could not place everything, one per
// job (the newest wins), until the cluster's capacity changes. Leader only.
//
// An evaluation scheduled on a snapshot older than the last capacity change
// is not parked: the change it missed might let it place, so it goes back
// to the broker at once. Without this, a node joining between the
// scheduling pass and the blocked evaluation's commit would be missed.
type blockedEvals struct {
	mu      sync.Mutex
	enabled bool
	byJob   map[string]*structs.Evaluation
	// lastChange is the raft index of the latest capacity change.
	lastChange uint64
}

func newBlockedEvals() *blockedEvals {
	return &blockedEvals{byJob: map[string]*structs.Evaluation{}}
}

// setEnabled turns tracking on or off. Turning it on at index treats every
// evaluation blocked before index as having missed a change: a new leader
// cannot know what happened while there was none.
func (b *blockedEvals) setEnabled(on bool, index uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enabled = on
	b.lastChange = index
	b.byJob = map[string]*structs.Evaluation{}
}

// block parks an evaluation, reporting false when it must be retried now
// instead: it was scheduled before the latest capacity change.
func (b *blockedEvals) block(e *structs.Evaluation) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.enabled {
		return true
	}
	if e.SnapshotIndex < b.lastChange {
		return false
	}
	k := jobKeyOf(e)
	if old := b.byJob[k]; old != nil && old.ModifyIndex > e.ModifyIndex {
		return true
	}
	b.byJob[k] = e
	return true
}

// forget drops a job's parked evaluation once a newer one supersedes it.
func (b *blockedEvals) forget(e *structs.Evaluation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := jobKeyOf(e)
	if old := b.byJob[k]; old != nil && old.Id != e.Id && old.ModifyIndex <= e.ModifyIndex {
		delete(b.byJob, k)
	}
}

// unblockAll records a capacity change at index and returns every parked
// evaluation, forgetting them.
func (b *blockedEvals) unblockAll(index uint64) []*structs.Evaluation {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastChange = max(b.lastChange, index)
	out := make([]*structs.Evaluation, 0, len(b.byJob))
	for _, e := range b.byJob {
		out = append(out, e)
	}
	b.byJob = map[string]*structs.Evaluation{}
	return out
}
