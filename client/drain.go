package client

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/structs"
)

// Drain asks the servers to drain this node: it becomes ineligible for new
// work and its allocations are migrated to other nodes; past deadline
// (zero or negative: at once) what is left is stopped. It returns once the
// servers have recorded the drain, not when it is done.
func (c *Client) Drain(ctx context.Context, deadline time.Duration) error {
	return c.drain(ctx, &DrainConfig{Deadline: deadline})
}

func (c *Client) drain(ctx context.Context, d *DrainConfig) error {
	deadline := d.Deadline
	if deadline <= 0 {
		// The servers read a zero deadline as none, as Nomad does; a
		// negative one forces the drain.
		deadline = -1
	}
	return c.updateDrain(ctx, &structs.DrainStrategy{Deadline: durationpb.New(deadline), IgnoreSystemJobs: d.IgnoreSystemJobs}, false)
}

// CancelDrain ends a drain of this node; with markEligible the node takes
// new work again (it stays ineligible otherwise).
func (c *Client) CancelDrain(ctx context.Context, markEligible bool) error {
	return c.updateDrain(ctx, nil, markEligible)
}

func (c *Client) updateDrain(ctx context.Context, strategy *structs.DrainStrategy, markEligible bool) error {
	backoff := 100 * time.Millisecond
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := call(rctx, c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.NodeDrainResponse, error) {
			return s.UpdateNodeDrain(ctx, &structs.NodeDrainRequest{
				NodeId: c.id.NodeID, SecretId: c.id.SecretID, DrainStrategy: strategy, MarkEligible: markEligible,
			})
		})
		cancel()
		if err == nil || answered(err) {
			return err
		}
		// Unreachable or leaderless servers: the next one may answer.
		if !clock.Sleep(ctx, c.clock, backoff) {
			return fmt.Errorf("drain: %w (last error: %w)", ctx.Err(), err)
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// drainAndWait drains the node and waits until nothing is left running on
// it, bounded by the drain deadline (plus the kill timeouts it takes to
// stop what is left) and ctx.
func (c *Client) drainAndWait(ctx context.Context, d *DrainConfig) error {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return fmt.Errorf("drain: not registered: %w", ctx.Err())
	}
	if err := c.drain(ctx, d); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, max(d.Deadline, 0)+time.Minute)
	defer cancel()
	for {
		settled, changed := c.allocs.settled()
		if settled && c.updates.pendingCount() == 0 {
			c.logger.Info("node drained")
			return nil
		}
		if settled {
			// The final statuses are on their way: give the updater a beat.
			changed = nil
		}
		t := c.clock.NewTimer(c.cfg.UpdateInterval)
		select {
		case <-changed:
		case <-t.C():
		case <-wctx.Done():
			t.Stop()
			return fmt.Errorf("drain: %w", wctx.Err())
		}
		t.Stop()
	}
}
