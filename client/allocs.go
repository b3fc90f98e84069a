package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/structs"
)

// allocManager watches the allocations the servers place on this node and
// keeps one alloc runner per allocation the client holds.
type allocManager struct {
	c *Client

	mu      sync.Mutex
	runners map[string]*allocRunner
	// listed is the servers' latest list of the node's allocations; nil
	// until the first answer.
	listed map[string]*structs.Allocation
	// reported holds allocations the client never ran and has reported
	// complete, so they are reported once.
	reported map[string]bool
	// changed is closed and replaced whenever runners or listed change.
	changed chan struct{}
	// repoll asks the watch to drop its long-poll and ask again at once.
	repoll chan struct{}
	wg     sync.WaitGroup
}

func newAllocManager(c *Client) *allocManager {
	return &allocManager{c: c, runners: map[string]*allocRunner{}, reported: map[string]bool{}, changed: make(chan struct{}), repoll: make(chan struct{}, 1)}
}

func (m *allocManager) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// restore starts runners for the allocations the local state holds, before
// the servers are asked: running tasks are reattached at once.
func (m *allocManager) restore(ctx context.Context, allocs []*restoredAlloc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ra := range allocs {
		if _, ok := m.runners[ra.alloc.Id]; ok {
			continue
		}
		m.start(ctx, newAllocRunner(m.c, ra.alloc, ra.tasks))
	}
	if len(allocs) > 0 {
		m.c.logger.Info("restored allocations from local state", "count", len(allocs))
	}
}

// start runs r; m.mu is held.
func (m *allocManager) start(ctx context.Context, r *allocRunner) {
	m.runners[r.alloc.Id] = r
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.run(ctx)
		m.mu.Lock()
		m.notifyLocked()
		m.mu.Unlock()
	}()
}

// poll makes the watch drop the long-poll it is in and ask the servers
// again at once. The client calls it when its heartbeats get through
// after failing: a long-poll sent before a partition may hang on a dead
// connection until its timeout, while the servers, having marked the
// node down, replaced its allocations elsewhere; the client must learn
// that now, not up to a timeout later, or the same work runs twice.
func (m *allocManager) poll() {
	select {
	case m.repoll <- struct{}{}:
	default:
	}
}

// allocWatchWait is how long one allocation long-poll waits for a change,
// as Nomad's clients do (the servers' cap on a blocking query): at
// 100,000 nodes, 30 s made the servers answer 3,300 timed-out polls a
// second. A long-poll on a connection that dies is not held that long:
// the connection's keepalive ends it within seconds, and a client whose
// heartbeats get through again after failing asks at once (poll).
const allocWatchWait = 5 * time.Minute

// watch long-polls the node's allocations by index until ctx is done.
func (m *allocManager) watch(ctx context.Context) {
	var index uint64
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		// A server stretches the wait by up to a sixteenth, and a frozen or
		// cut-off server is noticed by the connection's keepalive sooner.
		qctx, cancel := context.WithTimeout(ctx, allocWatchWait+allocWatchWait/16+30*time.Second)
		repolled := make(chan struct{})
		go func() {
			select {
			case <-m.repoll:
				close(repolled)
				cancel()
			case <-qctx.Done():
			}
		}()
		resp, err := call(qctx, m.c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.NodeAllocsResponse, error) {
			return s.GetNodeAllocations(ctx, &structs.NodeAllocsRequest{
				NodeId: m.c.id.NodeID, SecretId: m.c.id.SecretID,
				Options:      &structs.QueryOptions{MinQueryIndex: index, MaxQueryTimeMs: allocWatchWait.Milliseconds()},
				ChangesSince: index, IdsWhenRemoved: true, WithoutReports: true,
			})
		})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			select {
			case <-repolled:
				backoff = 100 * time.Millisecond
				continue
			default:
			}
			if !errors.Is(err, structs.ErrNotFound) {
				m.c.logger.Warn("watching allocations failed, retrying", "error", err)
			}
			if !clock.Sleep(ctx, m.c.clock, backoff) {
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		allocs, complete := m.merge(resp)
		if !complete {
			// The answer names an allocation this client holds no copy
			// of: ask for the whole list.
			index = 0
			continue
		}
		// A server behind the last one answers with its own, lower index:
		// the next query starts from there.
		index = resp.GetMeta().GetIndex()
		m.reconcile(ctx, allocs, index)
	}
}

// merge turns an answer of the servers into the node's whole list of
// allocations: an answer of changes only takes the unchanged allocations
// from the last list (all of them when it omits the ids: nothing left the
// node). complete is false when it names an allocation missing from that
// list.
func (m *allocManager) merge(resp *structs.NodeAllocsResponse) (allocs []*structs.Allocation, complete bool) {
	if !resp.GetChangesOnly() {
		return resp.GetAllocations(), true
	}
	changed := make(map[string]*structs.Allocation, len(resp.GetAllocations()))
	for _, a := range resp.GetAllocations() {
		changed[a.Id] = a
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if resp.GetIdsOmitted() {
		// Nothing left the node: the last list and what changed.
		allocs = make([]*structs.Allocation, 0, len(m.listed)+len(changed))
		for id, a := range m.listed {
			if changed[id] == nil {
				allocs = append(allocs, a)
			}
		}
		return append(allocs, resp.GetAllocations()...), true
	}
	allocs = make([]*structs.Allocation, 0, len(resp.GetAllocIds()))
	for _, id := range resp.GetAllocIds() {
		a := changed[id]
		if a == nil {
			a = m.listed[id]
		}
		if a == nil {
			return nil, false
		}
		allocs = append(allocs, a)
	}
	return allocs, true
}

// reconcile starts runners for new allocations, tells existing ones about
// changes (such as a request to stop) and destroys the runners of
// allocations the servers no longer list, at index.
func (m *allocManager) reconcile(ctx context.Context, allocs []*structs.Allocation, index uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	listed := make(map[string]*structs.Allocation, len(allocs))
	for _, a := range allocs {
		listed[a.Id] = a
	}
	m.listed = listed
	defer m.notifyLocked()
	for id, r := range m.runners {
		if _, ok := listed[id]; ok {
			continue
		}
		if r.finished() {
			select {
			case <-r.destroyCh:
			default:
				// Collected by the servers: nothing is left to report.
				m.wg.Add(1)
				go func() {
					defer m.wg.Done()
					r.remove()
				}()
			}
			delete(m.runners, id)
			continue
		}
		if index < r.current().ModifyIndex {
			// An answer older than what the client knows of the
			// allocation proves nothing about it.
			continue
		}
		m.c.logger.Info("servers no longer know the allocation, stopping it", "alloc", id)
		r.destroy()
	}
	for id := range m.reported {
		if _, ok := listed[id]; !ok {
			delete(m.reported, id)
		}
	}
	for _, a := range allocs {
		if r := m.runners[a.Id]; r != nil {
			r.update(a)
			continue
		}
		if a.ClientTerminal() {
			continue
		}
		if a.DesiredStatus != structs.AllocDesiredRun {
			// Stopped before this client ran it: it has nothing to stop.
			if !m.reported[a.Id] {
				m.reported[a.Id] = true
				m.c.updates.push(&structs.Allocation{Id: a.Id, ClientStatus: structs.AllocClientComplete,
					ClientDescription: "allocation stopped before it started"})
			}
			continue
		}
		if err := m.c.state.putAlloc(a); err != nil {
			m.c.logger.Error("recording allocation", "alloc", a.Id, "error", err)
		}
		m.start(ctx, newAllocRunner(m.c, a, nil))
	}
}

// settled reports whether nothing on the node should run any more: every
// allocation the servers list is terminal (as the servers last sent it,
// or as this client reported it: its runner finished, or it was stopped
// before it started) and every runner has finished. The servers do not
// send the client's own reports back.
func (m *allocManager) settled() (bool, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.listed == nil {
		return false, m.changed
	}
	for id, a := range m.listed {
		if a.IsTerminal() || m.reported[id] {
			continue
		}
		if r := m.runners[id]; r != nil && r.finished() {
			continue
		}
		return false, m.changed
	}
	for _, r := range m.runners {
		if !r.finished() {
			return false, m.changed
		}
	}
	return true, m.changed
}

// shutdown waits for every runner to return; the client's context is
// already cancelled, so tasks are left running (or stopped, for drivers
// whose tasks cannot outlive the client).
func (m *allocManager) shutdown() { m.wg.Wait() }
