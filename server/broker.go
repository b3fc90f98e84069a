package server

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/droverhq/drover/structs"
)

// evalBroker hands pending evaluations to workers in priority order, at most
// one outstanding per job, with acknowledgement: an evaluation not acked is
// redelivered, up to a delivery limit, after which it is handed to onFailed.
// It is only enabled on the leader.
type evalBroker struct {
	deliveryLimit int
	nackDelay     time.Duration
	onFailed      func(*structs.Evaluation)

	mu      sync.Mutex
	enabled bool
	ready   evalHeap
	// known holds every evaluation id in the broker, ready, unacked or waiting.
	known map[string]bool
	// unacked holds evaluations handed to a worker, by id.
	unacked map[string]*unackedEval
	// jobBusy marks jobs with an evaluation ready or unacked; later ones wait in jobWaiting.
	jobBusy    map[string]string
	jobWaiting map[string][]*structs.Evaluation
	deliveries map[string]int
	timers     map[string]*time.Timer
	wake       chan struct{}
}

type unackedEval struct {
	eval  *structs.Evaluation
	token string
}

func newEvalBroker(deliveryLimit int, nackDelay time.Duration, onFailed func(*structs.Evaluation)) *evalBroker {
	b := &evalBroker{deliveryLimit: deliveryLimit, nackDelay: nackDelay, onFailed: onFailed}
	b.reset()
	return b
}

func (b *evalBroker) reset() {
	b.ready = nil
	b.known = map[string]bool{}
	b.unacked = map[string]*unackedEval{}
	b.jobBusy = map[string]string{}
	b.jobWaiting = map[string][]*structs.Evaluation{}
	b.deliveries = map[string]int{}
	for _, t := range b.timers {
		t.Stop()
	}
	b.timers = map[string]*time.Timer{}
	b.wake = make(chan struct{})
}

// setEnabled turns the broker on (leader) or off, dropping everything it held.
func (b *evalBroker) setEnabled(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enabled = on
	close(b.wake)
	b.reset()
}

func jobKeyOf(e *structs.Evaluation) string { return e.Namespace + "\x00" + e.JobId }

// enqueue adds an evaluation unless the broker already holds it.
func (b *evalBroker) enqueue(e *structs.Evaluation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.enabled || b.known[e.Id] {
		return
	}
	b.known[e.Id] = true
	k := jobKeyOf(e)
	if _, busy := b.jobBusy[k]; busy {
		b.jobWaiting[k] = append(b.jobWaiting[k], e)
		return
	}
	b.pushLocked(e)
}

func (b *evalBroker) pushLocked(e *structs.Evaluation) {
	b.jobBusy[jobKeyOf(e)] = e.Id
	heap.Push(&b.ready, e)
	close(b.wake)
	b.wake = make(chan struct{})
}

// dequeue blocks until an evaluation of one of types is ready, and returns
// it with the token that acks or nacks it.
func (b *evalBroker) dequeue(ctx context.Context, types map[string]bool) (*structs.Evaluation, string, error) {
	for {
		b.mu.Lock()
		if b.enabled {
			if e := b.popLocked(types); e != nil {
				b.deliveries[e.Id]++
				token := fmt.Sprintf("%s/%d", e.Id, b.deliveries[e.Id])
				b.unacked[e.Id] = &unackedEval{eval: e, token: token}
				b.mu.Unlock()
				return e, token, nil
			}
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
	}
}

func (b *evalBroker) popLocked(types map[string]bool) *structs.Evaluation {
	var skipped []*structs.Evaluation
	defer func() {
		for _, e := range skipped {
			heap.Push(&b.ready, e)
		}
	}()
	for b.ready.Len() > 0 {
		e := heap.Pop(&b.ready).(*structs.Evaluation)
		if types[e.Type] {
			return e
		}
		skipped = append(skipped, e)
	}
	return nil
}

// ack completes an evaluation and releases the next one of its job.
func (b *evalBroker) ack(id, token string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.unacked[id]
	if u == nil || u.token != token {
		return fmt.Errorf("%w: evaluation %s is not outstanding with this token", ErrBadRequest, id)
	}
	b.finishLocked(u.eval)
	return nil
}

func (b *evalBroker) finishLocked(e *structs.Evaluation) {
	delete(b.unacked, e.Id)
	delete(b.known, e.Id)
	delete(b.deliveries, e.Id)
	k := jobKeyOf(e)
	delete(b.jobBusy, k)
	if waiting := b.jobWaiting[k]; len(waiting) > 0 {
		next := waiting[0]
		if len(waiting) == 1 {
			delete(b.jobWaiting, k)
		} else {
			b.jobWaiting[k] = waiting[1:]
		}
		b.pushLocked(next)
	}
}

// nack returns an evaluation for redelivery after a growing delay, or, once
// it reached the delivery limit, drops it and hands it to onFailed (which
// runs on the caller's goroutine).
func (b *evalBroker) nack(id, token string) error {
	b.mu.Lock()
	u := b.unacked[id]
	if u == nil || u.token != token {
		b.mu.Unlock()
		return fmt.Errorf("%w: evaluation %s is not outstanding with this token", ErrBadRequest, id)
	}
	delete(b.unacked, id)
	if b.deliveries[id] >= b.deliveryLimit {
		b.finishLocked(u.eval)
		b.mu.Unlock()
		if b.onFailed != nil {
			b.onFailed(u.eval)
		}
		return nil
	}
	delay := b.nackDelay * time.Duration(b.deliveries[id])
	b.timers[id] = time.AfterFunc(delay, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.timers[id] == nil {
			return
		}
		delete(b.timers, id)
		heap.Push(&b.ready, u.eval)
		close(b.wake)
		b.wake = make(chan struct{})
	})
	b.mu.Unlock()
	return nil
}

// stats reports how many evaluations are ready and unacked.
func (b *evalBroker) stats() (ready, unacked int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ready.Len(), len(b.unacked)
}

// evalHeap orders evaluations by priority, then age.
type evalHeap []*structs.Evaluation

func (h evalHeap) Len() int { return len(h) }
func (h evalHeap) Less(i, j int) bool {
	if h[i].Priority != h[j].Priority {
		return h[i].Priority > h[j].Priority
	}
	return h[i].CreateIndex < h[j].CreateIndex
}
func (h evalHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *evalHeap) Push(x any)   { *h = append(*h, x.(*structs.Evaluation)) }
func (h *evalHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
