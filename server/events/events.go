// Package events is a server's event broker: every change the FSM applies
// becomes a batch of events, held in a bounded buffer, that subscribers
// read from an index with a topic filter.
//
// The broker starts no goroutines. Publish appends under a lock and wakes
// waiting readers; each Subscription keeps its own cursor into the buffer.
// A subscriber whose cursor falls out of the buffer, because it read too
// slowly or asked for an index the buffer no longer holds, gets ErrLagged
// instead of a stream with silent gaps.
package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Topic names a kind of object events are about.
type Topic string

// Topics, spelled as Nomad's event stream spells them.
const (
	TopicJob        Topic = "Job"
	TopicNode       Topic = "Node"
	TopicAllocation Topic = "Allocation"
	TopicEvaluation Topic = "Evaluation"
	TopicDeployment Topic = "Deployment"
	// TopicAll, as a key of SubscribeRequest.Topics, matches every topic.
	TopicAll Topic = "*"
)

// Event types, as Nomad names them.
const (
	TypeJobRegistered     = "JobRegistered"
	TypeJobDeregistered   = "JobDeregistered"
	TypeNodeRegistration  = "NodeRegistration"
	TypeNodeEvent         = "NodeStreamEvent"
	TypeNodeEligibility   = "NodeEligibility"
	TypeEvalUpdated       = "EvaluationUpdated"
	TypePlanResult        = "PlanResult"
	TypeAllocationUpdated = "AllocationUpdated"

	TypeDeploymentStatusUpdate = "DeploymentStatusUpdate"
	TypeDeploymentPromotion    = "DeploymentPromotion"
	TypeDeploymentAllocHealth  = "DeploymentAllocHealth"
	TypeJobStability           = "JobStability"
)

// Errors subscribers branch on with errors.Is.
var (
	// ErrLagged: events the subscriber asked for are no longer buffered.
	ErrLagged = errors.New("event subscriber fell behind the event buffer")
	// ErrClosed: the broker was closed (the server shut down) or the
	// subscription was closed.
	ErrClosed = errors.New("event subscription closed")
	// ErrDisabled: the server runs without an event broker.
	ErrDisabled = errors.New("event broker is disabled")
)

// Event is one change to one object.
type Event struct {
	Topic Topic
	// Type says what happened (JobRegistered, AllocationUpdated, ...).
	Type string
	// Key identifies the object: a job id, node id, allocation id, ...
	Key string
	// Namespace of the object; empty for nodes.
	Namespace string
	// FilterKeys are further keys a topic filter matches (an allocation's
	// job id, an evaluation's job id).
	FilterKeys []string
	// Index is the raft index of the entry that made the change.
	Index uint64
	// Payload is the object as stored after the change: *structs.Job,
	// *structs.Node, *structs.Allocation or *structs.Evaluation. Payloads
	// are shared, never modified: readers must not change them.
	Payload any
	// Deleted is true when the change removed the object.
	Deleted bool
}

// Batch holds the events of one raft index, in the order they happened.
type Batch struct {
	Index  uint64
	Events []Event
}

// SubscribeRequest says which events a subscriber wants.
type SubscribeRequest struct {
	// Topics maps a topic (or TopicAll) to the keys wanted; no keys, or
	// the key "*", means every key. An empty map means every topic.
	Topics map[Topic][]string
	// Namespace restricts namespaced events; "" or "*" means all.
	Namespace string
	// Index: deliver batches with an index at least this one. Zero starts
	// with the oldest batch still buffered.
	Index uint64
	// Authorize, when set, is asked each time Next looks for events: an
	// error ends the subscription with that error (a subscriber whose
	// credentials expired or were revoked gets nothing more), and the
	// function it returns says which events the subscriber may see.
	Authorize func() (func(Event) bool, error)
}

// Broker buffers the latest batches and serves subscriptions.
type Broker struct {
	size int

	mu sync.Mutex
	// ring holds up to size batches; the newest is at seq-1.
	ring []Batch
	// seq counts every batch ever published.
	seq uint64
	// lost is the highest index whose events may be missing from the
	// buffer: evicted, or before the broker started (a restored snapshot).
	lost   uint64
	notify chan struct{}
	closed bool
}

// New returns a broker holding at most size batches. Batches at or below
// floor (the index restored from a snapshot) were never seen, so a
// subscriber asking for them gets ErrLagged.
func New(size int, floor uint64) *Broker {
	if size < 1 {
		size = 1
	}
	return &Broker{size: size, ring: make([]Batch, size), lost: floor, notify: make(chan struct{})}
}

// Publish appends the events of one index. Empty batches are dropped.
func (b *Broker) Publish(index uint64, evs []Event) {
	if len(evs) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if b.seq >= uint64(b.size) {
		if old := b.ring[b.seq%uint64(b.size)]; old.Index > b.lost {
			b.lost = old.Index
		}
	}
	b.ring[b.seq%uint64(b.size)] = Batch{Index: index, Events: evs}
	b.seq++
	close(b.notify)
	b.notify = make(chan struct{})
}

// Reset records that the state jumped to index without events (a snapshot
// was installed): subscribers reading across the jump get ErrLagged.
func (b *Broker) Reset(index uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if index > b.lost {
		b.lost = index
	}
	b.seq += uint64(b.size) // every cursor now points before the buffer
	b.ring = make([]Batch, b.size)
	close(b.notify)
	b.notify = make(chan struct{})
}

// Close ends every subscription; later Publish calls do nothing.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.notify)
	}
}

// Subscribe returns a subscription positioned at req.Index. It fails with
// ErrLagged when events at or after that index were already dropped.
func (b *Broker) Subscribe(req SubscribeRequest) (*Subscription, error) {
	f, err := newFilter(req)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if req.Index > 0 && req.Index <= b.lost {
		return nil, fmt.Errorf("%w: index %d is no longer buffered (events up to %d were dropped); subscribe from a later index or 0",
			ErrLagged, req.Index, b.lost)
	}
	first := b.oldestLocked()
	cur := first
	for cur < b.seq && b.ring[cur%uint64(b.size)].Index < req.Index {
		cur++
	}
	return &Subscription{b: b, next: cur, filter: f, authorize: req.Authorize, closed: make(chan struct{})}, nil
}

// oldestLocked is the sequence number of the oldest buffered batch.
func (b *Broker) oldestLocked() uint64 {
	if b.seq > uint64(b.size) {
		return b.seq - uint64(b.size)
	}
	return 0
}

// Subscription reads batches in index order. It is not safe for concurrent use.
type Subscription struct {
	b         *Broker
	next      uint64
	filter    filter
	authorize func() (func(Event) bool, error)
	// endErr is the error that ended the subscription (End, or a failed
	// Authorize).
	endMu    sync.Mutex
	endErr   error
	once     sync.Once
	closed   chan struct{}
	lastSeen uint64
}

// Next blocks until a batch with events the subscription wants is
// published, and returns those events. It returns ctx's error when ctx is
// done first (the subscription stays usable), ErrLagged once the
// subscriber fell out of the buffer, and ErrClosed after Close or when the
// broker closed.
func (s *Subscription) Next(ctx context.Context) (Batch, error) {
	for {
		allow := func(Event) bool { return true }
		if err := s.ended(); err != nil {
			return Batch{}, err
		}
		if s.authorize != nil {
			a, err := s.authorize()
			if err != nil {
				s.End(err)
				return Batch{}, err
			}
			allow = a
		}
		b := s.b
		b.mu.Lock()
		select {
		case <-s.closed:
			b.mu.Unlock()
			return Batch{}, ErrClosed
		default:
		}
		if b.closed {
			b.mu.Unlock()
			return Batch{}, ErrClosed
		}
		if s.next < b.oldestLocked() {
			lost := b.lost
			b.mu.Unlock()
			return Batch{}, fmt.Errorf("%w: events after index %d up to %d were dropped before they were read; resubscribe",
				ErrLagged, s.lastSeen, lost)
		}
		for s.next < b.seq {
			batch := b.ring[s.next%uint64(b.size)]
			s.next++
			s.lastSeen = batch.Index
			if evs := s.filter.apply(batch.Events, allow); len(evs) > 0 {
				b.mu.Unlock()
				return Batch{Index: batch.Index, Events: evs}, nil
			}
		}
		wait := b.notify
		b.mu.Unlock()
		select {
		case <-wait:
		case <-s.closed:
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		}
	}
}

// Close ends the subscription; a blocked Next returns ErrClosed. It is
// idempotent and safe to call from any goroutine.
func (s *Subscription) Close() { s.once.Do(func() { close(s.closed) }) }

// End ends the subscription with err: Next returns err from then on. It is
// safe to call from any goroutine; the first error sticks.
func (s *Subscription) End(err error) {
	s.endMu.Lock()
	if s.endErr == nil {
		s.endErr = err
	}
	s.endMu.Unlock()
	s.Close()
}

func (s *Subscription) ended() error {
	s.endMu.Lock()
	defer s.endMu.Unlock()
	return s.endErr
}

// filter matches events against a SubscribeRequest.
type filter struct {
	all       bool
	topics    map[Topic]map[string]bool // nil key set: every key
	namespace string
}

func newFilter(req SubscribeRequest) (filter, error) {
	f := filter{namespace: req.Namespace}
	if f.namespace == "*" {
		f.namespace = ""
	}
	if len(req.Topics) == 0 {
		f.all = true
		return f, nil
	}
	f.topics = map[Topic]map[string]bool{}
	for t, keys := range req.Topics {
		switch t {
		case TopicAll, TopicJob, TopicNode, TopicAllocation, TopicEvaluation, TopicDeployment:
		default:
			return filter{}, fmt.Errorf("%w: unknown topic %q", ErrBadTopic, t)
		}
		if len(keys) == 0 || slices.Contains(keys, "*") {
			f.topics[t] = nil
			continue
		}
		set := make(map[string]bool, len(keys))
		for _, k := range keys {
			set[k] = true
		}
		f.topics[t] = set
	}
	return f, nil
}

// ErrBadTopic: a subscription named a topic the broker does not know.
var ErrBadTopic = errors.New("bad event topic")

func (f filter) apply(evs []Event, allow func(Event) bool) []Event {
	var out []Event
	for _, e := range evs {
		if f.match(e) && allow(e) {
			out = append(out, e)
		}
	}
	return out
}

func (f filter) match(e Event) bool {
	if f.namespace != "" && e.Namespace != "" && e.Namespace != f.namespace {
		return false
	}
	if f.all {
		return true
	}
	for _, t := range []Topic{e.Topic, TopicAll} {
		keys, ok := f.topics[t]
		if !ok {
			continue
		}
		if keys == nil || keys[e.Key] {
			return true
		}
		for _, k := range e.FilterKeys {
			if keys[k] {
				return true
			}
		}
	}
	return false
}
