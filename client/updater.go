package client

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/droverhq/drover/structs"
)

// maxUpdateBatch bounds the allocations one UpdateAllocations call carries.
const maxUpdateBatch = 256

// updateTimeout bounds one UpdateAllocations call.
const updateTimeout = 10 * time.Second

// allocUpdater batches allocation status changes to the servers: the
// latest status of each allocation is sent once per interval, so a burst of
// task events costs one RPC and one raft entry. Every update is in the
// local state until a server acknowledges it: a failed call is retried,
// against the next server, on the next interval, and updates left when the
// client stops are sent after it starts again.
type allocUpdater struct {
	c        *Client
	interval time.Duration

	mu      sync.Mutex
	seq     uint64
	pending map[string]*pendingUpdate
}

func newAllocUpdater(c *Client, interval time.Duration) *allocUpdater {
	return &allocUpdater{c: c, interval: interval, pending: map[string]*pendingUpdate{}}
}

// restore queues the updates a previous run of the client left unsent.
func (u *allocUpdater) restore(ups []*pendingUpdate) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, p := range ups {
		u.seq = max(u.seq, p.seq)
		if cur := u.pending[p.alloc.Id]; cur == nil || cur.seq < p.seq {
			u.pending[p.alloc.Id] = p
		}
	}
}

// next returns a queued update for a, which the caller persists.
func (u *allocUpdater) next(a *structs.Allocation) *pendingUpdate {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seq++
	p := &pendingUpdate{seq: u.seq, alloc: a}
	u.pending[a.Id] = p
	return p
}

// push queues an allocation's latest client status and persists it.
func (u *allocUpdater) push(a *structs.Allocation) {
	p := u.next(a)
	if err := u.c.state.putUpdate(p); err != nil {
		u.c.logger.Error("recording allocation update", "alloc", a.Id, "error", err)
	}
}

func (u *allocUpdater) run(ctx context.Context) {
	t := u.c.clock.NewTicker(u.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// A last try, so statuses reached before shutdown go out now;
			// what fails stays in the local state for the next start.
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			u.flush(fctx)
			cancel()
			return
		case <-t.C():
			u.flush(ctx)
		}
	}
}

// flush sends what is pending, in batches.
func (u *allocUpdater) flush(ctx context.Context) {
	u.mu.Lock()
	batch := make([]*pendingUpdate, 0, len(u.pending))
	for _, p := range u.pending {
		batch = append(batch, p)
	}
	u.mu.Unlock()
	sort.Slice(batch, func(i, j int) bool { return batch[i].seq < batch[j].seq })
	for len(batch) > 0 && ctx.Err() == nil {
		n := min(len(batch), maxUpdateBatch)
		if !u.send(ctx, batch[:n]) {
			return
		}
		batch = batch[n:]
	}
}

// send delivers one batch and reports whether the servers took it. A batch
// the servers refuse as a whole (an allocation they no longer know, or not
// this node's) is sent one by one, and what is refused is dropped.
func (u *allocUpdater) send(ctx context.Context, batch []*pendingUpdate) bool {
	err := u.call(ctx, batch)
	switch {
	case err == nil:
		u.done(batch)
		return true
	case !refusal(err):
		if ctx.Err() == nil {
			u.c.metrics.updateFailures.Inc()
			u.c.logger.Warn("sending allocation updates failed, will retry", "count", len(batch), "error", err)
		}
		return false
	}
	for _, p := range batch {
		err := u.call(ctx, []*pendingUpdate{p})
		switch {
		case err == nil:
		case refusal(err):
			u.c.logger.Warn("servers refused an allocation update; dropping it", "alloc", p.alloc.Id, "error", err)
		default:
			return false
		}
		u.done([]*pendingUpdate{p})
	}
	return true
}

// refusal reports an answer that a retry would get again.
func refusal(err error) bool {
	return errors.Is(err, structs.ErrNotFound) || errors.Is(err, structs.ErrPermissionDenied) ||
		errors.Is(err, structs.ErrBadRequest)
}

func (u *allocUpdater) call(ctx context.Context, batch []*pendingUpdate) error {
	allocs := make([]*structs.Allocation, len(batch))
	for i, p := range batch {
		allocs[i] = p.alloc
	}
	ctx, cancel := context.WithTimeout(ctx, updateTimeout)
	defer cancel()
	_, err := call(ctx, u.c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.GenericResponse, error) {
		return s.UpdateAllocations(ctx, &structs.AllocUpdateRequest{
			NodeId: u.c.id.NodeID, SecretId: u.c.id.SecretID, Allocations: allocs,
		})
	})
	if err == nil {
		u.c.metrics.updateBatches.Inc()
	}
	return err
}

// done forgets acknowledged updates, unless newer ones came meanwhile.
func (u *allocUpdater) done(sent []*pendingUpdate) {
	u.mu.Lock()
	for _, p := range sent {
		if cur := u.pending[p.alloc.Id]; cur != nil && cur.seq == p.seq {
			delete(u.pending, p.alloc.Id)
		}
	}
	u.mu.Unlock()
	if err := u.c.state.deleteUpdates(sent); err != nil {
		u.c.logger.Error("forgetting sent allocation updates", "error", err)
	}
}

// pendingCount is how many allocations have unsent updates.
func (u *allocUpdater) pendingCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.pending)
}
