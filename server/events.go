package server

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/events"
	"github.com/droverhq/drover/structs"
)

// Events subscribes to the server's event stream: the changes this server
// applies, from req.Index on, filtered by topic, key and namespace. The
// subscription ends when ctx is done, when the server shuts down, or when
// the caller closes it; a subscriber that reads too slowly for the buffer
// gets events.ErrLagged. With the event broker disabled it returns
// events.ErrDisabled.
//
// With ACLs on, the caller sees only events of the namespaces it may read
// jobs in (and node events with node read), and its token is checked again
// each time the subscription looks for events: once the token expires or
// is deleted, the subscription ends with ErrTokenNotFound.
func (s *Server) Events(ctx context.Context, req events.SubscribeRequest) (*events.Subscription, error) {
	if s.events == nil {
		return nil, fmt.Errorf("%w: this server runs with enable_event_broker = false", events.ErrDisabled)
	}
	a, tok, err := s.authorizeToken(ctx)
	if err != nil {
		return nil, err
	}
	if !a.IsManagement() && !a.AllowNodeRead() && !a.AllowAnyNamespaceOperation(acl.NamespaceCapabilityReadJob) {
		s.metrics.aclDenied.Inc()
		return nil, errDenied("the event stream needs read-job in some namespace or node read")
	}
	req.Authorize = func() (func(events.Event) bool, error) {
		a, err := s.authorize(AllowStale(ctx))
		if err != nil {
			return nil, err
		}
		return func(e events.Event) bool { return eventAllowed(a, e) }, nil
	}
	sub, err := s.events.Subscribe(req)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, sub.Close)
	if tok != nil && tok.ExpirationTime != 0 {
		// A subscriber waiting for events is told when its token expires.
		t := s.cfg.Clock.AfterFunc(time.Duration(tok.ExpirationTime-s.cfg.Clock.Now().UnixNano()), func() {
			sub.End(fmt.Errorf("%w (expired)", ErrTokenNotFound))
		})
		context.AfterFunc(ctx, func() { t.Stop() })
	}
	return sub, nil
}

// eventAllowed reports whether a may see e.
func eventAllowed(a *acl.ACL, e events.Event) bool {
	if a.IsManagement() {
		return true
	}
	switch e.Topic {
	case events.TopicNode:
		return a.AllowNodeRead()
	case events.TopicJob, events.TopicAllocation, events.TopicEvaluation, events.TopicDeployment:
		return a.AllowNamespaceOperation(e.Namespace, acl.NamespaceCapabilityReadJob)
	}
	return false
}

// newEventBroker returns the server's broker, or nil when disabled.
func newEventBroker(cfg Config) *events.Broker {
	if cfg.DisableEventBroker {
		return nil
	}
	size := cfg.EventBufferSize
	if size <= 0 {
		size = 100
	}
	return events.New(size, 0)
}

// eventsAt implements applyListener: the events of the command applied at
// index, read from the state as that command left it (r is the state
// transaction, which may go on with the next commands of a batch).
func (s *Server) eventsAt(r objectReader, index uint64, cmd *structs.LogCommand) []events.Event {
	if s.events == nil || cmd == nil || cmd.Command == nil {
		return nil
	}
	return eventsFor(r, index, cmd)
}

// entryApplied implements applyListener: once the state holding the
// command applied at index is committed, it wakes the periodic dispatcher
// if the command concerns it and publishes the command's events.
func (s *Server) entryApplied(index uint64, cmd *structs.LogCommand, evs []events.Event) {
	if periodicChange(cmd) {
		s.kickPeriodic()
	}
	if s.events == nil {
		return
	}
	s.events.Publish(index, evs)
}

// objectReader reads the objects events are made of: a state snapshot, or
// a transaction between two commands of a batch. Stored objects are never
// changed in place, so what it returns stays as read.
type objectReader interface {
	Job(ns, id string) *structs.Job
	Node(id string) *structs.Node
	Alloc(id string) *structs.Allocation
	AllocsByNode(nodeID string) []*structs.Allocation
	Eval(id string) *structs.Evaluation
	Deployment(id string) *structs.Deployment
}

// stateRestored implements applyListener: the state jumped to index
// without events, so subscribers reading across it must resubscribe, and
// the leader's services start over from the new state.
func (s *Server) stateRestored(index uint64) {
	if s.events != nil {
		s.events.Reset(index)
	}
	s.restartLeaderServices()
}

// eventCollector gathers the objects one command changed, once each.
type eventCollector struct {
	v     objectReader
	index uint64
	typ   string
	out   []events.Event
	seen  map[seenKey]bool
	// filterKeys is where events' FilterKeys are cut from, a block at a
	// time.
	filterKeys []string
}

// seenKey names an object an event was made for: its topic, namespace
// (jobs only) and id.
type seenKey struct {
	topic  events.Topic
	ns, id string
}

func (c *eventCollector) once(topic events.Topic, ns, id string) bool {
	k := seenKey{topic, ns, id}
	if c.seen == nil {
		c.seen = map[seenKey]bool{}
	}
	if c.seen[k] {
		return false
	}
	c.seen[k] = true
	return true
}

// expect makes room for the events of about n objects.
func (c *eventCollector) expect(n int) {
	c.out = slices.Grow(c.out, n+2)
	if c.seen == nil {
		c.seen = make(map[seenKey]bool, n+2)
	}
}

// keys returns FilterKeys holding ks, from a shared block.
func (c *eventCollector) keys(ks ...string) []string {
	if cap(c.filterKeys)-len(c.filterKeys) < len(ks) {
		c.filterKeys = make([]string, 0, max(64, len(ks)))
	}
	start := len(c.filterKeys)
	c.filterKeys = append(c.filterKeys, ks...)
	return c.filterKeys[start:len(c.filterKeys):len(c.filterKeys)]
}

func (c *eventCollector) job(ns, id string) {
	if !c.once(events.TopicJob, ns, id) {
		return
	}
	if j := c.v.Job(ns, id); j != nil && j.ModifyIndex == c.index {
		c.out = append(c.out, events.Event{Topic: events.TopicJob, Type: c.typ, Key: id, Namespace: ns, Index: c.index, Payload: j})
	}
}

func (c *eventCollector) deletedJob(ns, id string) {
	if c.once(events.TopicJob, ns, id) {
		c.out = append(c.out, events.Event{
			Topic: events.TopicJob, Type: c.typ, Key: id, Namespace: ns, Index: c.index,
			Payload: &structs.Job{Id: id, Namespace: ns, Name: id}, Deleted: true,
		})
	}
}

func (c *eventCollector) node(id string) {
	if !c.once(events.TopicNode, "", id) {
		return
	}
	if n := c.v.Node(id); n != nil && n.ModifyIndex == c.index {
		c.out = append(c.out, events.Event{Topic: events.TopicNode, Type: c.typ, Key: id, Index: c.index, Payload: redactNode(n)})
	}
}

func (c *eventCollector) alloc(id string) {
	if !c.once(events.TopicAllocation, "", id) {
		return
	}
	a := c.v.Alloc(id)
	if a == nil || a.ModifyIndex != c.index {
		return
	}
	c.out = append(c.out, events.Event{
		Topic: events.TopicAllocation, Type: c.typ, Key: id, Namespace: a.Namespace,
		FilterKeys: c.keys(a.JobId, a.NodeId), Index: c.index, Payload: a,
	})
	c.job(a.Namespace, a.JobId) // its job's status may have changed with it
}

func (c *eventCollector) evals(list []*structs.Evaluation) {
	for _, e := range list {
		if e == nil || !c.once(events.TopicEvaluation, "", e.Id) {
			continue
		}
		if st := c.v.Eval(e.Id); st != nil && st.ModifyIndex == c.index {
			c.out = append(c.out, events.Event{
				Topic: events.TopicEvaluation, Type: c.typ, Key: st.Id, Namespace: st.Namespace,
				FilterKeys: c.keys(st.JobId), Index: c.index, Payload: st,
			})
		}
	}
}

// eventsFor lists the events of one applied command, reading the objects
// as stored. Only objects the entry modified (ModifyIndex == index) count.
func eventsFor(v objectReader, index uint64, cmd *structs.LogCommand) []events.Event {
	c := &eventCollector{v: v, index: index}
	switch x := cmd.Command.(type) {
	case *structs.LogCommand_JobUpsert:
		c.typ = events.TypeJobRegistered
		if j := x.JobUpsert.GetJob(); j != nil {
			c.job(j.Namespace, j.Id)
		}
		c.evals([]*structs.Evaluation{x.JobUpsert.GetEval()})
	case *structs.LogCommand_JobDelete:
		c.typ = events.TypeJobDeregistered
		d := x.JobDelete
		if d.Purge {
			c.deletedJob(d.Namespace, d.JobId)
		} else {
			c.job(d.Namespace, d.JobId)
		}
		c.evals([]*structs.Evaluation{d.GetEval()})
	case *structs.LogCommand_JobDispatch:
		c.typ = events.TypeJobRegistered
		if j := x.JobDispatch.GetChild(); j != nil {
			c.job(j.Namespace, j.Id)
		}
		c.evals([]*structs.Evaluation{x.JobDispatch.GetEval()})
	case *structs.LogCommand_PeriodicLaunch:
		c.typ = events.TypeJobRegistered
		if j := x.PeriodicLaunch.GetChild(); j != nil {
			c.job(j.Namespace, j.Id)
			c.evals([]*structs.Evaluation{x.PeriodicLaunch.GetEval()})
		}
	case *structs.LogCommand_JobScale:
		c.typ = events.TypeJobRegistered
		c.job(x.JobScale.Namespace, x.JobScale.JobId)
		c.evals([]*structs.Evaluation{x.JobScale.GetEval()})
	case *structs.LogCommand_NodeUpsert:
		c.typ = events.TypeNodeRegistration
		c.node(x.NodeUpsert.GetNode().GetId())
		c.evals(x.NodeUpsert.GetEvals())
	case *structs.LogCommand_NodeUpsertBatch:
		c.typ = events.TypeNodeRegistration
		for _, u := range x.NodeUpsertBatch.GetUpserts() {
			c.node(u.GetNode().GetId())
			c.evals(u.GetEvals())
		}
	case *structs.LogCommand_NodeStatus:
		c.typ = events.TypeNodeEvent
		c.node(x.NodeStatus.NodeId)
		for _, a := range v.AllocsByNode(x.NodeStatus.NodeId) {
			c.alloc(a.Id)
		}
		c.evals(x.NodeStatus.GetEvals())
	case *structs.LogCommand_NodeDisconnectExpiry:
		c.typ = events.TypeNodeEvent
		c.node(x.NodeDisconnectExpiry.NodeId)
		for _, a := range v.AllocsByNode(x.NodeDisconnectExpiry.NodeId) {
			c.alloc(a.Id)
		}
		c.evals(x.NodeDisconnectExpiry.GetEvals())
	case *structs.LogCommand_NodeEligibility:
		c.typ = events.TypeNodeEligibility
		c.node(x.NodeEligibility.NodeId)
		c.evals(x.NodeEligibility.GetEvals())
	case *structs.LogCommand_EvalUpsert:
		c.typ = events.TypeEvalUpdated
		c.evals(x.EvalUpsert.GetEvals())
	case *structs.LogCommand_PlanApply:
		c.typ = events.TypePlanResult
		c.expect(len(x.PlanApply.GetResult().GetNodeUpdate()) + len(x.PlanApply.GetResult().GetNodeAllocation()))
		for _, a := range x.PlanApply.GetResult().GetNodeUpdate() {
			c.alloc(a.Id)
		}
		for _, a := range x.PlanApply.GetResult().GetNodeAllocation() {
			c.alloc(a.Id)
		}
		c.evals(append([]*structs.Evaluation{x.PlanApply.GetEval()}, x.PlanApply.GetNewEvals()...))
	case *structs.LogCommand_AllocClientUpdate:
		c.typ = events.TypeAllocationUpdated
		c.expect(len(x.AllocClientUpdate.GetAllocations()))
		for _, a := range x.AllocClientUpdate.GetAllocations() {
			c.alloc(a.Id)
		}
		c.evals(x.AllocClientUpdate.GetEvals())
	}
	deploymentEvents(c, cmd)
	return c.out
}
