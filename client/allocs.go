package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/droverhq/drover/structs"
)

// allocManager watches the allocations the servers place on this node and
// keeps one alloc runner per allocation that should run.
type allocManager struct {
	c *Client

	mu      sync.Mutex
	runners map[string]*allocRunner
	wg      sync.WaitGroup
}

func newAllocManager(c *Client) *allocManager {
	return &allocManager{c: c, runners: map[string]*allocRunner{}}
}

// watch long-polls the node's allocations by index until ctx is done.
func (m *allocManager) watch(ctx context.Context) {
	var index uint64
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		resp, err := call(ctx, m.c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.NodeAllocsResponse, error) {
			return s.GetNodeAllocations(ctx, &structs.NodeAllocsRequest{
				NodeId: m.c.id.NodeID, SecretId: m.c.id.SecretID,
				Options: &structs.QueryOptions{MinQueryIndex: index, MaxQueryTimeMs: 30_000},
			})
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !errors.Is(err, structs.ErrNotFound) {
				m.c.logger.Warn("watching allocations failed, retrying", "error", err)
			}
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		index = resp.GetMeta().GetIndex()
		m.reconcile(ctx, resp.Allocations)
	}
}

// reconcile starts runners for new allocations and tells existing ones
// about changes (such as a request to stop).
func (m *allocManager) reconcile(ctx context.Context, allocs []*structs.Allocation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	listed := make(map[string]bool, len(allocs))
	for _, a := range allocs {
		listed[a.Id] = true
	}
	// Forget finished runners of allocations the servers have collected.
	for id, r := range m.runners {
		if !listed[id] && r.finished() {
			delete(m.runners, id)
		}
	}
	for _, a := range allocs {
		r := m.runners[a.Id]
		if r != nil {
			r.update(a)
			continue
		}
		if a.DesiredStatus != structs.AllocDesiredRun || a.ClientTerminal() {
			continue
		}
		r = newAllocRunner(m.c, a)
		m.runners[a.Id] = r
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			r.run(ctx)
		}()
	}
}

// shutdown stops every task, waiting at most until ctx is done for each.
func (m *allocManager) shutdown(ctx context.Context) {
	m.mu.Lock()
	runners := make([]*allocRunner, 0, len(m.runners))
	for _, r := range m.runners {
		runners = append(runners, r)
	}
	m.mu.Unlock()
	for _, r := range runners {
		r.kill(ctx)
	}
	m.wg.Wait()
}
