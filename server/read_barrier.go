package server

import (
	"context"
	"sync"
)

// readBarriers shares raft read-index rounds among concurrent linearizable
// reads: a caller waits for a round that starts after it arrived (the one
// in flight, if any, may predate its call), so every read still sees every
// write acknowledged before it, but a burst of reads (thousands of clients'
// long-polls starting at once) costs one round at a time, not one each.
// Its zero value is ready to use.
type readBarriers struct {
	mu sync.Mutex
	// running is the round in flight; next gathers the callers that arrived
	// since it started, for the round after it.
	running, next *readRound
}

// readRound is one raft read-index request and the callers it serves.
type readRound struct {
	done chan struct{}
	err  error
}

// sharedReadBarrier waits for a read-index round that began after the call.
func (s *Server) sharedReadBarrier(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b := &s.reads
	b.mu.Lock()
	if b.next == nil {
		b.next = &readRound{done: make(chan struct{})}
	}
	r := b.next
	if b.running == nil {
		b.running, b.next = r, nil
		go s.runReadRound(r)
	}
	b.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runReadRound runs r, then the round gathered meanwhile, if any.
func (s *Server) runReadRound(r *readRound) {
	for r != nil {
		_, r.err = s.raft.ReadIndex(s.stopCtx)
		close(r.done)
		b := &s.reads
		b.mu.Lock()
		r, b.next = b.next, nil
		b.running = r
		b.mu.Unlock()
	}
}
