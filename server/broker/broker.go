// Package broker holds the leader's evaluation queues: the Broker, which
// hands pending evaluations to scheduler workers in priority order with one
// in flight per job, and Blocked, which parks evaluations that could not
// place everything until capacity they could use appears. Both run on the
// leader only and are switched on and off with leadership.
package broker

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/structs"
)

// Broker hands pending evaluations to workers in priority order. Per
// job it holds at most one outstanding evaluation (handed to a worker, not
// yet acked) and one pending one (ready or waiting for the outstanding one
// to finish): any further evaluation of the job is folded into the pending
// one, which will be scheduled on a snapshot newer than all of them, and
// is queued for cancellation. A burst of node events for a job thus
// becomes one scheduling pass.
//
// An evaluation not acked is redelivered after a growing delay, up to a
// delivery limit, after which it is handed to Config.OnFailed. Evaluations with a
// wait_until in the future are held until then. The broker only runs on
// the leader.
type Broker struct {
	deliveryLimit int
	nackDelay     time.Duration
	unackTimeout  time.Duration
	onFailed      func(*structs.Evaluation)
	coreType      string
	// maxPin bounds how long pins may keep a pending evaluation from being
	// handed out (see pin).
	maxPin time.Duration
	clock  clock.Clock

	mu      sync.Mutex
	enabled bool
	paused  bool
	ready   readyHeap
	// known holds every evaluation id in the broker.
	known map[string]bool
	// unacked holds evaluations handed to a worker, by id.
	unacked map[string]*unackedEval
	// outstanding maps a job to its unacked (or nacked, awaiting
	// redelivery) evaluation; pending to its ready or waiting one.
	outstanding map[string]string
	pending     map[string]*pendingEval
	deliveries  map[string]int
	timers      map[string]clock.Timer
	// delayed holds evaluations until their wait_until.
	delayed    delayHeap
	delayTimer clock.Timer
	// cancelable collects folded evaluations for the leader to cancel.
	cancelable []*structs.Evaluation
	cancelWake chan struct{}
	wake       chan struct{}
	folded     int
}

type unackedEval struct {
	eval  *structs.Evaluation
	token string
	// lease, for an evaluation handed out with DequeueLeased, nacks it
	// when the worker neither acks, nacks nor renews it in time.
	lease clock.Timer
}

// ErrDisabled is what DequeueLeased returns while the broker is off: the
// server is not (or no longer, or not yet) the leader.
var ErrDisabled = errors.New("eval broker disabled")

// DefaultUnackTimeout is the lease of an evaluation handed out with
// DequeueLeased when Config.UnackTimeout is zero.
const DefaultUnackTimeout = time.Minute

// pendingEval is a job's pending evaluation: inHeap when ready, else
// waiting behind the job's outstanding one.
type pendingEval struct {
	eval   *structs.Evaluation
	inHeap bool
	// pins count callers relying on the evaluation not being handed out
	// before their raft entry is applied; pinnedAt is since when pins have
	// been holding it back while ready (zero when they are not).
	pins     int
	pinnedAt time.Time
}

// Config is what a Broker is built with.
type Config struct {
	// DeliveryLimit is how many times an evaluation is handed out before
	// it is given up on and passed to OnFailed.
	DeliveryLimit int
	// NackDelay is the delay before a nacked evaluation is handed out
	// again, multiplied by the deliveries so far.
	NackDelay time.Duration
	// OnFailed, when set, receives an evaluation that reached the delivery
	// limit, on the goroutine that nacked it.
	OnFailed func(*structs.Evaluation)
	// CoreType is the type of the server's own evaluations, which live only
	// in the broker: folded ones are dropped, not handed back for
	// cancellation, since there is nothing stored to cancel.
	CoreType string
	// UnackTimeout is how long an evaluation handed out with DequeueLeased
	// (to a worker on another server, which may vanish) stays with its
	// worker without an Ack, Nack or OutstandingReset before it is nacked
	// for it. Default DefaultUnackTimeout.
	UnackTimeout time.Duration
	// Clock is the time of delays, nack timers and pins; default the real
	// clock.
	Clock clock.Clock
}

// New returns a disabled broker; SetEnabled turns it on.
func New(cfg Config) *Broker {
	if cfg.UnackTimeout <= 0 {
		cfg.UnackTimeout = DefaultUnackTimeout
	}
	b := &Broker{
		deliveryLimit: cfg.DeliveryLimit, nackDelay: cfg.NackDelay, onFailed: cfg.OnFailed, coreType: cfg.CoreType,
		unackTimeout: cfg.UnackTimeout, maxPin: time.Second, clock: clock.Or(cfg.Clock),
		cancelWake: make(chan struct{}, 1),
	}
	b.reset()
	return b
}

func (b *Broker) reset() {
	b.ready = nil
	b.delayed = nil
	b.known = map[string]bool{}
	b.unacked = map[string]*unackedEval{}
	b.outstanding = map[string]string{}
	b.pending = map[string]*pendingEval{}
	b.deliveries = map[string]int{}
	for _, t := range b.timers {
		t.Stop()
	}
	for _, u := range b.unacked {
		if u.lease != nil {
			u.lease.Stop()
		}
	}
	b.timers = map[string]clock.Timer{}
	if b.delayTimer != nil {
		b.delayTimer.Stop()
		b.delayTimer = nil
	}
	b.cancelable = nil
	b.wake = make(chan struct{})
}

// SetEnabled turns the broker on (leader) or off, dropping everything it held.
func (b *Broker) SetEnabled(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enabled = on
	close(b.wake)
	b.reset()
}

// SetPaused stops (or resumes) handing evaluations to workers; they keep
// queueing meanwhile.
func (b *Broker) SetPaused(paused bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.paused = paused
	b.wakeLocked()
}

// Paused reports whether the broker is paused.
func (b *Broker) Paused() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.paused
}

func (b *Broker) wakeLocked() {
	close(b.wake)
	b.wake = make(chan struct{})
}

func jobKeyOf(e *structs.Evaluation) string { return e.Namespace + "\x00" + e.JobId }

// Enqueue adds an evaluation unless the broker already holds it; a second
// pending evaluation of a job is folded into the first.
func (b *Broker) Enqueue(e *structs.Evaluation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.enabled || b.known[e.Id] {
		return
	}
	if e.WaitUntil > 0 && b.clock.Now().UnixNano() < e.WaitUntil {
		b.known[e.Id] = true
		heap.Push(&b.delayed, e)
		b.armDelayLocked()
		return
	}
	b.enqueueLocked(e)
}

func (b *Broker) enqueueLocked(e *structs.Evaluation) {
	k := jobKeyOf(e)
	if p := b.pending[k]; p != nil {
		// The pending evaluation has not been handed out: it will see a
		// state at least as new as this one's, so this one is redundant.
		b.known[e.Id] = true
		b.foldLocked(e)
		return
	}
	b.known[e.Id] = true
	p := &pendingEval{eval: e}
	b.pending[k] = p
	if _, busy := b.outstanding[k]; !busy {
		p.inHeap = true
		heap.Push(&b.ready, e)
		b.wakeLocked()
	}
}

func (b *Broker) foldLocked(e *structs.Evaluation) {
	delete(b.known, e.Id)
	b.folded++
	if b.coreType != "" && e.Type == b.coreType {
		return
	}
	b.cancelable = append(b.cancelable, e)
	select {
	case b.cancelWake <- struct{}{}:
	default:
	}
}

// armDelayLocked sets the timer for the earliest delayed evaluation.
func (b *Broker) armDelayLocked() {
	if b.delayTimer != nil {
		b.delayTimer.Stop()
		b.delayTimer = nil
	}
	if b.delayed.Len() == 0 {
		return
	}
	wait := time.Duration(b.delayed[0].WaitUntil - b.clock.Now().UnixNano())
	b.delayTimer = b.clock.AfterFunc(max(wait, 0), b.releaseDelayed)
}

// releaseDelayed moves the evaluations whose time has come to the queue.
func (b *Broker) releaseDelayed() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.enabled {
		return
	}
	now := b.clock.Now().UnixNano()
	for b.delayed.Len() > 0 && b.delayed[0].WaitUntil <= now {
		e := heap.Pop(&b.delayed).(*structs.Evaluation)
		delete(b.known, e.Id)
		b.enqueueLocked(e)
	}
	b.armDelayLocked()
}

// Dequeue blocks until an evaluation of one of types is ready, and returns
// it with the token that acks or nacks it. It is for the leader's own
// workers, which stop with its leadership: the evaluation stays with the
// worker until it acks or nacks it.
func (b *Broker) Dequeue(ctx context.Context, types map[string]bool) (*structs.Evaluation, string, error) {
	return b.dequeue(ctx, types, false)
}

// DequeueLeased is Dequeue for a worker on another server: the evaluation
// is nacked for the worker (and so handed out again, or failed at the
// delivery limit) unless it is acked, nacked or renewed with
// OutstandingReset within Config.UnackTimeout. While the broker is off it
// fails at once with ErrDisabled, and it fails with ErrDisabled when the
// broker is turned off during the wait.
func (b *Broker) DequeueLeased(ctx context.Context, types map[string]bool) (*structs.Evaluation, string, error) {
	return b.dequeue(ctx, types, true)
}

// UnackTimeout is the lease of an evaluation handed out with DequeueLeased.
func (b *Broker) UnackTimeout() time.Duration { return b.unackTimeout }

func (b *Broker) dequeue(ctx context.Context, types map[string]bool, leased bool) (*structs.Evaluation, string, error) {
	for {
		b.mu.Lock()
		if leased && !b.enabled {
			b.mu.Unlock()
			return nil, "", ErrDisabled
		}
		if b.enabled && !b.paused {
			if e := b.popLocked(types); e != nil {
				k := jobKeyOf(e)
				if p := b.pending[k]; p != nil && p.eval.Id == e.Id {
					delete(b.pending, k)
				}
				b.outstanding[k] = e.Id
				b.deliveries[e.Id]++
				// The random part keeps a token of a former leadership (or
				// of this one's former broker) from matching a later
				// delivery of the same evaluation.
				token := fmt.Sprintf("%s/%d/%s", e.Id, b.deliveries[e.Id], uuid.NewString())
				u := &unackedEval{eval: e, token: token}
				b.unacked[e.Id] = u
				if leased {
					u.lease = b.clock.AfterFunc(b.unackTimeout, func() { b.leaseExpired(u) })
				}
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

// popLocked takes the best ready evaluation of the given types that no
// caller has pinned.
func (b *Broker) popLocked(types map[string]bool) *structs.Evaluation {
	var skipped []*structs.Evaluation
	defer func() {
		for _, e := range skipped {
			heap.Push(&b.ready, e)
		}
	}()
	for b.ready.Len() > 0 {
		e := heap.Pop(&b.ready).(*structs.Evaluation)
		if p := b.pending[jobKeyOf(e)]; types[e.Type] && (p == nil || p.eval.Id != e.Id || p.pins == 0) {
			return e
		}
		skipped = append(skipped, e)
	}
	return nil
}

// Pin reports whether the job has a pending evaluation not yet handed out,
// and if so keeps it from being handed out until Unpin: a caller about to
// commit a node change may then leave the job out of the change's
// evaluations, since the pending one will be scheduled after the change is
// applied. Pins hold a ready evaluation back at most maxPin in a row, so a
// stream of changes cannot starve it.
func (b *Broker) Pin(namespace, jobID string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.enabled {
		return "", false
	}
	p := b.pending[namespace+"\x00"+jobID]
	if p == nil {
		return "", false
	}
	if p.inHeap && !p.pinnedAt.IsZero() && b.clock.Now().Sub(p.pinnedAt) > b.maxPin {
		return "", false
	}
	if p.inHeap && p.pinnedAt.IsZero() {
		p.pinnedAt = b.clock.Now()
	}
	p.pins++
	return p.eval.Id, true
}

// Unpin releases a pin taken on the job's pending evaluation.
func (b *Broker) Unpin(namespace, jobID, evalID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pending[namespace+"\x00"+jobID]
	if p == nil || p.eval.Id != evalID || p.pins == 0 {
		return
	}
	p.pins--
	if p.pins == 0 {
		p.pinnedAt = time.Time{}
		b.wakeLocked()
	}
}

// leaseExpired nacks an evaluation whose leased worker went silent.
func (b *Broker) leaseExpired(u *unackedEval) {
	b.mu.Lock()
	if b.unacked[u.eval.Id] != u {
		b.mu.Unlock()
		return
	}
	b.nackLocked(u) // unlocks
}

// Outstanding returns the evaluation handed out with token, if it is
// still outstanding with it.
func (b *Broker) Outstanding(id, token string) (*structs.Evaluation, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.unackedLocked(id, token)
	if err != nil {
		return nil, false
	}
	return u.eval, true
}

// unackedLocked is the evaluation id handed out with token, or an error
// when it is not outstanding with it (any more); b.mu is held.
func (b *Broker) unackedLocked(id, token string) (*unackedEval, error) {
	u := b.unacked[id]
	if u == nil || u.token != token {
		return nil, fmt.Errorf("%w: evaluation %s is not outstanding with this token", structs.ErrBadRequest, id)
	}
	return u, nil
}

// OutstandingReset renews the lease of an evaluation handed out with
// DequeueLeased: its worker is still at it. It fails when the evaluation
// is not outstanding with token (any more).
func (b *Broker) OutstandingReset(id, token string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.unackedLocked(id, token)
	if err != nil {
		return err
	}
	if u.lease != nil {
		u.lease.Reset(b.unackTimeout)
	}
	return nil
}

// Ack completes an evaluation and releases the job's pending one.
func (b *Broker) Ack(id, token string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.unackedLocked(id, token)
	if err != nil {
		return err
	}
	if u.lease != nil {
		u.lease.Stop()
	}
	b.finishLocked(u.eval)
	return nil
}

func (b *Broker) finishLocked(e *structs.Evaluation) {
	delete(b.unacked, e.Id)
	delete(b.known, e.Id)
	delete(b.deliveries, e.Id)
	k := jobKeyOf(e)
	if b.outstanding[k] == e.Id {
		delete(b.outstanding, k)
	}
	if p := b.pending[k]; p != nil && !p.inHeap {
		p.inHeap = true
		if p.pins > 0 {
			p.pinnedAt = b.clock.Now()
		}
		heap.Push(&b.ready, p.eval)
		b.wakeLocked()
	}
}

// Nack returns an evaluation for redelivery after a growing delay, or, once
// it reached the delivery limit, drops it and hands it to Config.OnFailed (which
// runs on the caller's goroutine). The job stays busy meanwhile.
func (b *Broker) Nack(id, token string) error {
	b.mu.Lock()
	u, err := b.unackedLocked(id, token)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	b.nackLocked(u)
	return nil
}

// nackLocked is Nack of u, with b.mu held; it unlocks b.mu.
func (b *Broker) nackLocked(u *unackedEval) {
	id := u.eval.Id
	if u.lease != nil {
		u.lease.Stop()
	}
	delete(b.unacked, id)
	if b.deliveries[id] >= b.deliveryLimit {
		b.finishLocked(u.eval)
		b.mu.Unlock()
		if b.onFailed != nil {
			b.onFailed(u.eval)
		}
		return
	}
	delay := b.nackDelay * time.Duration(b.deliveries[id])
	b.timers[id] = b.clock.AfterFunc(delay, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.timers[id] == nil {
			return
		}
		delete(b.timers, id)
		heap.Push(&b.ready, u.eval)
		b.wakeLocked()
	})
	b.mu.Unlock()
}

// TakeCancelable returns (and forgets) up to n folded evaluations to cancel.
func (b *Broker) TakeCancelable(n int) []*structs.Evaluation {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, len(b.cancelable))
	out := b.cancelable[:n:n]
	b.cancelable = b.cancelable[n:]
	return out
}

// CancelWake receives a value when folded evaluations are waiting to be
// taken with TakeCancelable.
func (b *Broker) CancelWake() <-chan struct{} { return b.cancelWake }

// Stats is a count of what the broker holds.
type Stats struct {
	// Ready evaluations wait for a worker; Unacked ones are with a worker.
	Ready, Unacked int
	// Waiting evaluations are pending behind their job's outstanding one;
	// Delayed ones wait for their wait_until.
	Waiting, Delayed int
	// Folded counts the evaluations folded into a pending one so far;
	// Cancelable those of them not yet taken for cancellation.
	Folded, Cancelable int
}

// Stats returns a count of what the broker holds.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{
		Ready: b.ready.Len(), Unacked: len(b.unacked), Waiting: len(b.pending) - b.inHeapLocked(),
		Delayed: b.delayed.Len(), Folded: b.folded, Cancelable: len(b.cancelable),
	}
}

func (b *Broker) inHeapLocked() int {
	n := 0
	for _, p := range b.pending {
		if p.inHeap {
			n++
		}
	}
	return n
}

// readyHeap orders evaluations by priority, then age.
type readyHeap []*structs.Evaluation

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	if h[i].Priority != h[j].Priority {
		return h[i].Priority > h[j].Priority
	}
	return h[i].CreateIndex < h[j].CreateIndex
}
func (h readyHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *readyHeap) Push(x any)   { *h = append(*h, x.(*structs.Evaluation)) }
func (h *readyHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// delayHeap orders evaluations by wait_until.
type delayHeap []*structs.Evaluation

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].WaitUntil < h[j].WaitUntil }
func (h delayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)        { *h = append(*h, x.(*structs.Evaluation)) }
func (h *delayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
