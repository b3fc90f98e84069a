package server

import (
	"sync"

	"github.com/droverhq/drover/structs"
)

// blockedEvals holds evaluations that could not place everything, one per
// job (the newest wins), until the cluster's capacity changes. Leader only.
type blockedEvals struct {
	mu      sync.Mutex
	enabled bool
	byJob   map[string]*structs.Evaluation
}

func newBlockedEvals() *blockedEvals {
	return &blockedEvals{byJob: map[string]*structs.Evaluation{}}
}

func (b *blockedEvals) setEnabled(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enabled = on
	b.byJob = map[string]*structs.Evaluation{}
}

// block parks an evaluation.
func (b *blockedEvals) block(e *structs.Evaluation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.enabled {
		return
	}
	k := jobKeyOf(e)
	if old := b.byJob[k]; old != nil && old.ModifyIndex > e.ModifyIndex {
		return
	}
	b.byJob[k] = e
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

// unblockAll returns every parked evaluation and forgets them.
func (b *blockedEvals) unblockAll() []*structs.Evaluation {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*structs.Evaluation, 0, len(b.byJob))
	for _, e := range b.byJob {
		out = append(out, e)
	}
	b.byJob = map[string]*structs.Evaluation{}
	return out
}

// len is how many evaluations are parked.
func (b *blockedEvals) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.byJob)
}
