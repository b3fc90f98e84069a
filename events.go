package drover

import (
	"context"

	"github.com/droverhq/drover/server/events"
)

// The event stream, under the names a user of the package writes.
type (
	// EventTopic names a kind of object events are about.
	EventTopic = events.Topic
	// Event is one change to one object: its Payload is the *Job, *Node,
	// *Allocation or *Evaluation as stored after the change, shared with
	// the server's state (read it, never change it).
	Event = events.Event
	// EventBatch holds the events of one raft index, in the order they
	// happened.
	EventBatch = events.Batch
	// EventSubscription is a subscriber's cursor into the event stream:
	// its Next blocks for the next batch, its Close ends it.
	EventSubscription = events.Subscription
)

// Event topics, as Nomad's event stream spells them.
const (
	TopicJob        = events.TopicJob
	TopicNode       = events.TopicNode
	TopicAllocation = events.TopicAllocation
	TopicEvaluation = events.TopicEvaluation
	TopicDeployment = events.TopicDeployment
	// TopicAll, as a key of EventRequest.Topics, matches every topic.
	TopicAll = events.TopicAll
)

// Errors of the event stream, matched with errors.Is.
var (
	// ErrEventsLagged: the events a subscriber asked for are no longer
	// buffered (it read too slowly, or asked for too old an index).
	ErrEventsLagged = events.ErrLagged
	// ErrEventsClosed: the subscription was closed, or the server shut
	// down.
	ErrEventsClosed = events.ErrClosed
	// ErrEventsDisabled: the server runs with DisableEventBroker.
	ErrEventsDisabled = events.ErrDisabled
)

// EventRequest says which events a subscriber wants.
type EventRequest struct {
	// Topics maps a topic (or TopicAll) to the keys wanted (job ids, node
	// ids, allocation ids, ...); no keys, or the key "*", means every key.
	// An empty map means every topic.
	Topics map[EventTopic][]string
	// Namespace restricts namespaced events; "" or "*" means all.
	Namespace string
	// Index: deliver batches with an index at least this one. Zero starts
	// with the oldest batch still buffered; StateIndex()+1 with the next
	// change.
	Index uint64
}

// Events subscribes to the server's event stream: the changes this server
// applies, from req.Index on, filtered by topic, key and namespace. The
// subscription ends when ctx is done, when the server shuts down, or when
// the caller closes it; a subscriber that reads too slowly for the buffer
// gets ErrEventsLagged. With ACLs on, the caller sees only what its token
// may read, and the subscription ends once the token expires or is
// deleted.
func (s *Server) Events(ctx context.Context, req EventRequest) (*EventSubscription, error) {
	return s.srv.Events(ctx, events.SubscribeRequest{Topics: req.Topics, Namespace: req.Namespace, Index: req.Index})
}
