package server

import (
	"context"
	"sync"
	"time"

	"github.com/droverhq/drover/structs"
)

const (
	// allocUpdateWindow is how long the leader gathers client allocation
	// updates before it writes them in one raft entry.
	allocUpdateWindow = 50 * time.Millisecond
	// maxAllocUpdateBatch bounds the allocations of one such entry.
	maxAllocUpdateBatch = 4096
)

// allocUpdateBatcher coalesces the UpdateAllocations calls of many clients
// into one raft entry per window: with thousands of clients reporting,
// the log holds far fewer entries than calls. Every call is validated on
// its own before it joins a batch; each caller hears the batch's index.
// Its zero value is ready to use.
type allocUpdateBatcher struct {
	mu      sync.Mutex
	pending *allocUpdateBatch
}

// allocUpdateBatch is one raft entry in the making.
type allocUpdateBatch struct {
	allocs []*structs.Allocation
	done   chan struct{}
	index  uint64
	err    error
}

// batchAllocUpdates queues allocs for the next entry and waits until it
// is committed.
func (s *Server) batchAllocUpdates(ctx context.Context, allocs []*structs.Allocation) (uint64, error) {
	b := &s.allocUpdates
	b.mu.Lock()
	batch := b.pending
	if batch == nil {
		batch = &allocUpdateBatch{done: make(chan struct{})}
		b.pending = batch
		time.AfterFunc(allocUpdateWindow, func() { s.flushAllocUpdates(batch) })
	}
	batch.allocs = append(batch.allocs, allocs...)
	full := len(batch.allocs) >= maxAllocUpdateBatch
	b.mu.Unlock()
	if full {
		go s.flushAllocUpdates(batch)
	}
	select {
	case <-batch.done:
		return batch.index, batch.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// flushAllocUpdates writes batch, once, if it is still the pending one.
func (s *Server) flushAllocUpdates(batch *allocUpdateBatch) {
	b := &s.allocUpdates
	b.mu.Lock()
	if b.pending != batch {
		b.mu.Unlock()
		return
	}
	b.pending = nil
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.stopCtx, 30*time.Second)
	defer cancel()
	batch.index, batch.err = s.raft.Propose(ctx, &structs.LogCommand{
		Command: &structs.LogCommand_AllocClientUpdate{AllocClientUpdate: &structs.AllocClientUpdate{Allocations: batch.allocs}},
	})
	close(batch.done)
}
