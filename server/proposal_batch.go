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
	// nodeRegisterWindow is how long the leader gathers node registrations
	// before it writes them in one raft entry: short, as a registering
	// client waits for it.
	nodeRegisterWindow = 10 * time.Millisecond
	// maxNodeRegisterBatch bounds the nodes of one such entry.
	maxNodeRegisterBatch = 1024
)

// proposalBatcher coalesces many callers' changes of one kind into one
// raft entry per window: with thousands of clients reporting or
// registering at once, the log holds far fewer entries than calls. Every
// change is validated on its own before it joins a batch; each caller
// hears the batch's index and error.
type proposalBatcher[T any] struct {
	// window is how long a batch gathers; max ends it sooner.
	window time.Duration
	max    int
	// command builds the batch's raft entry.
	command func(items []T) *structs.LogCommand

	mu      sync.Mutex
	pending *proposalBatch[T]
}

// proposalBatch is one raft entry in the making.
type proposalBatch[T any] struct {
	items []T
	done  chan struct{}
	index uint64
	err   error
}

func newAllocUpdateBatcher() *proposalBatcher[*structs.Allocation] {
	return &proposalBatcher[*structs.Allocation]{
		window: allocUpdateWindow, max: maxAllocUpdateBatch,
		command: func(allocs []*structs.Allocation) *structs.LogCommand {
			return &structs.LogCommand{Command: &structs.LogCommand_AllocClientUpdate{
				AllocClientUpdate: &structs.AllocClientUpdate{Allocations: allocs}}}
		},
	}
}

func newNodeRegisterBatcher() *proposalBatcher[*structs.NodeUpsert] {
	return &proposalBatcher[*structs.NodeUpsert]{
		window: nodeRegisterWindow, max: maxNodeRegisterBatch,
		command: func(upserts []*structs.NodeUpsert) *structs.LogCommand {
			if len(upserts) == 1 {
				return &structs.LogCommand{Command: &structs.LogCommand_NodeUpsert{NodeUpsert: upserts[0]}}
			}
			return &structs.LogCommand{Command: &structs.LogCommand_NodeUpsertBatch{
				NodeUpsertBatch: &structs.NodeUpsertBatch{Upserts: upserts}}}
		},
	}
}

// propose queues items for the next entry and waits until it is
// committed, through s's raft.
func (b *proposalBatcher[T]) propose(ctx context.Context, s *Server, items ...T) (uint64, error) {
	b.mu.Lock()
	batch := b.pending
	if batch == nil {
		batch = &proposalBatch[T]{done: make(chan struct{})}
		b.pending = batch
		// A coalescing window in wall time, as a network deadline: it bounds
		// how long a caller waits, whatever the server's clock says.
		time.AfterFunc(b.window, func() { b.flush(s, batch) })
	}
	batch.items = append(batch.items, items...)
	full := len(batch.items) >= b.max
	b.mu.Unlock()
	if full {
		go b.flush(s, batch)
	}
	select {
	case <-batch.done:
		return batch.index, batch.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// flush writes batch, once, if it is still the pending one.
func (b *proposalBatcher[T]) flush(s *Server, batch *proposalBatch[T]) {
	b.mu.Lock()
	if b.pending != batch {
		b.mu.Unlock()
		return
	}
	b.pending = nil
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.stopCtx, 30*time.Second)
	defer cancel()
	batch.index, batch.err = s.raft.Propose(ctx, b.command(batch.items))
	close(batch.done)
}
