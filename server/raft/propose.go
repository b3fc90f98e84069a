package raft

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/structs"
)

// Propose replicates cmd and waits until it is applied on this server,
// returning the raft index it was applied at. Only the leader proposes:
// elsewhere it returns structs.ErrNotLeader before anything is sent. When the
// server loses leadership while the entry is in flight, the outcome is
// unknown: it returns structs.ErrLeadershipLost if another leader appears within
// the leader wait, structs.ErrNoLeader if none does.
func (rn *Node) Propose(ctx context.Context, cmd *structs.LogCommand) (uint64, error) {
	if err := rn.Err(); err != nil {
		return 0, err
	}
	if !rn.started.Load() {
		return 0, structs.ErrNotLeader
	}
	select {
	case <-rn.donec:
		return 0, rn.stoppedErr()
	default:
	}
	if !rn.leaderReady.Load() {
		// Not the leader, or a new one whose state may still lack entries
		// its predecessor committed: nothing may be decided on it yet.
		return 0, structs.ErrNotLeader
	}
	id := rn.nextID.Add(1)
	cmd.RequestId = id
	if cmd.Time == 0 {
		cmd.Time = rn.cfg.Clock.Now().UnixNano()
	}
	data, err := proto.Marshal(cmd)
	if err != nil {
		return 0, fmt.Errorf("encode command: %w", err)
	}
	ch := make(chan applyResult, 1)
	rn.waitMu.Lock()
	rn.waits[id] = ch
	rn.waitMu.Unlock()
	defer func() {
		rn.waitMu.Lock()
		delete(rn.waits, id)
		rn.waitMu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(ctx, rn.cfg.ProposeTimeout)
	defer cancel()
	start := rn.cfg.Clock.Now()
	select {
	case rn.propc <- data:
	case <-ctx.Done():
		// Nothing was proposed.
		return 0, fmt.Errorf("%w: the raft loop took no proposal: %w", structs.ErrNotLeader, ctx.Err())
	case <-rn.donec:
		return 0, rn.stoppedErr()
	}
	select {
	case res := <-ch:
		if errors.Is(res.err, errLeadershipLost) {
			return 0, rn.afterLeadershipLost(ctx)
		}
		if res.err == nil {
			rn.metrics.commitTime.Observe(clock.Since(rn.cfg.Clock, start).Seconds())
		}
		return res.index, res.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, fmt.Errorf("%w: not committed within %s", structs.ErrLeadershipLost, rn.cfg.ProposeTimeout)
		}
		return 0, ctx.Err()
	case <-rn.donec:
		return 0, rn.stoppedErr()
	}
}

// afterLeadershipLost tells a proposer whose entry was in flight when this
// server stepped down what became of the cluster: a new leader (the entry
// may or may not have been committed) or none within the leader wait.
func (rn *Node) afterLeadershipLost(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, rn.cfg.LeaderWait)
	defer cancel()
	for rn.leaderID.Load() == 0 {
		select {
		case <-rn.LeaderChanged():
		case <-ctx.Done():
			return fmt.Errorf("%w: leadership was lost while the write was in flight", structs.ErrNoLeader)
		case <-rn.donec:
			return rn.stoppedErr()
		}
	}
	return structs.ErrLeadershipLost
}

// WaitLeaderReady waits until this leader has applied an entry of its own
// term (raft appends one on every election): from then on its state holds
// everything committed before it led. It fails with structs.ErrNotLeader when
// leadership is lost first.
func (rn *Node) WaitLeaderReady(ctx context.Context) error {
	for {
		rn.notifyMu.Lock()
		applied, leader := rn.appliedCh, rn.leaderCh
		rn.notifyMu.Unlock()
		if rn.leaderReady.Load() {
			return nil
		}
		if !rn.leader.Load() {
			return structs.ErrNotLeader
		}
		select {
		case <-applied:
		case <-leader:
		case <-ctx.Done():
			return ctx.Err()
		case <-rn.donec:
			return rn.stoppedErr()
		}
	}
}

// ReadIndex returns an index such that every write acknowledged before the
// call is applied on this server once the index is: raft's ReadIndex,
// confirmed by a quorum of the leader's heartbeats. It works on any server
// (a follower asks the leader) and waits until the index is applied here.
// Without a leader or a quorum it fails with structs.ErrNoLeader after the leader
// wait.
func (rn *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if err := rn.Err(); err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, rn.cfg.LeaderWait)
	defer cancel()
	select {
	case <-rn.startedc:
	case <-wctx.Done():
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("%w: the server has not joined a cluster yet", structs.ErrNoLeader)
	case <-rn.stopc:
		return 0, structs.ErrShutdown
	}
	id := rn.nextID.Add(1)
	ch := make(chan uint64, 1)
	rn.waitMu.Lock()
	rn.reads[id] = ch
	rn.waitMu.Unlock()
	defer func() {
		rn.waitMu.Lock()
		delete(rn.reads, id)
		rn.waitMu.Unlock()
	}()
	rctx := readCtx(id)
	// Raft drops a read request it cannot serve (no leader yet, or a new
	// leader that has not committed in its term): ask again now and then.
	retry := rn.cfg.Clock.NewTicker(rn.cfg.BaseTick * time.Duration(max(rn.cfg.ElectionTicks/2, 1)))
	defer retry.Stop()
	for {
		select {
		case rn.readc <- rctx:
		case <-wctx.Done():
			return 0, rn.readTimeout(ctx)
		case <-rn.donec:
			return 0, rn.stoppedErr()
		}
		select {
		case idx := <-ch:
			return idx, nil
		case <-retry.C():
		case <-wctx.Done():
			return 0, rn.readTimeout(ctx)
		case <-rn.donec:
			return 0, rn.stoppedErr()
		}
	}
}

func (rn *Node) readTimeout(ctx context.Context) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: no quorum confirmed a read within %s", structs.ErrNoLeader, rn.cfg.LeaderWait)
}
