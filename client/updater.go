package client

import (
	"context"
	"sync"
	"time"

	"github.com/droverhq/drover/structs"
)

// allocUpdater batches allocation status changes to the servers: the latest
// status of each allocation is sent once per interval, so a burst of task
// events costs one RPC and one raft entry.
type allocUpdater struct {
	c        *Client
	interval time.Duration

	mu      sync.Mutex
	pending map[string]*structs.Allocation
}

func newAllocUpdater(c *Client, interval time.Duration) *allocUpdater {
	return &allocUpdater{c: c, interval: interval, pending: map[string]*structs.Allocation{}}
}

// push queues an allocation's latest client status.
func (u *allocUpdater) push(a *structs.Allocation) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.pending[a.Id] = a
}

func (u *allocUpdater) run(ctx context.Context) {
	t := time.NewTicker(u.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// A last flush, so statuses reached before shutdown are not lost.
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			u.flush(fctx)
			cancel()
			return
		case <-t.C:
			u.flush(ctx)
		}
	}
}

func (u *allocUpdater) flush(ctx context.Context) {
	u.mu.Lock()
	if len(u.pending) == 0 {
		u.mu.Unlock()
		return
	}
	batch := make([]*structs.Allocation, 0, len(u.pending))
	for _, a := range u.pending {
		batch = append(batch, a)
	}
	u.pending = map[string]*structs.Allocation{}
	u.mu.Unlock()

	_, err := call(ctx, u.c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.GenericResponse, error) {
		return s.UpdateAllocations(ctx, &structs.AllocUpdateRequest{
			NodeId: u.c.id.NodeID, SecretId: u.c.id.SecretID, Allocations: batch,
		})
	})
	if err == nil {
		return
	}
	if ctx.Err() == nil {
		u.c.logger.Warn("sending allocation updates failed, will retry", "count", len(batch), "error", err)
	}
	// Requeue what has not been superseded by a newer status meanwhile.
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, a := range batch {
		if _, newer := u.pending[a.Id]; !newer {
			u.pending[a.Id] = a
		}
	}
}
