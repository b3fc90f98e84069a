package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/store"
	"github.com/droverhq/drover/structs"
)

// raftConfig is what the raft node needs from the server's options.
type raftConfig struct {
	id             uint64
	snapThreshold  uint64
	snapInterval   time.Duration
	trailingLogs   uint64
	proposeTimeout time.Duration
	// now is the clock recorded in proposed commands.
	now            func() time.Time
	logger         *slog.Logger
	onLeaderChange func(isLeader bool)
	// onCommit and onLeaderID, when set, observe commit latency and each
	// change of the known leader (for metrics).
	onCommit        func(time.Duration)
	onLeaderID      func(lead uint64)
	baseTick        time.Duration
	electionTicks   int
	heartbeatTicks  int
	maxSizePerMsg   uint64
	maxInflightMsgs int
}

// applyResult is what a proposer is told once its entry is applied.
type applyResult struct {
	index uint64
	err   error
}

// raftNode owns the etcd raft node and its Ready loop: it persists to the
// Store, applies committed entries to the FSM, and hands each proposer its result.
type raftNode struct {
	cfg   raftConfig
	node  raft.Node
	store store.Store
	fsm   *fsm

	nextID atomic.Uint64
	waitMu sync.Mutex
	waits  map[uint64]chan applyResult

	leader   atomic.Bool
	leaderID atomic.Uint64
	applied  atomic.Uint64

	// Owned by the Ready loop.
	snapIndex  uint64
	confState  *raftpb.ConfState
	nextSnap   time.Time
	campaigned bool

	stopOnce sync.Once
	stopc    chan struct{}
	donec    chan struct{}
	errMu    sync.Mutex
	err      error
}

// startRaft restores the FSM from the store's snapshot and starts the raft
// node: a fresh store bootstraps a single-voter cluster of this server.
// Nothing is applied until run is called, so the caller can finish wiring
// (the FSM's listener) first.
func startRaft(cfg raftConfig, st store.Store, f *fsm) (rn *raftNode, err error) {
	rn = &raftNode{
		cfg:   cfg,
		store: st,
		fsm:   f,
		waits: map[uint64]chan applyResult{},
		stopc: make(chan struct{}),
		donec: make(chan struct{}),
	}
	rn.nextID.Store(rand.Uint64() >> 1)

	snap, err := st.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("raft: read snapshot: %w", err)
	}
	if !raft.IsEmptySnap(snap) {
		if err := rn.restoreFSM(snap); err != nil {
			return nil, err
		}
	}
	_, cs, err := st.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raft: read initial state: %w", err)
	}
	rn.confState = cs
	last, err := st.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("raft: read last index: %w", err)
	}

	rc := &raft.Config{
		ID:              cfg.id,
		ElectionTick:    cfg.electionTicks,
		HeartbeatTick:   cfg.heartbeatTicks,
		Storage:         st,
		Applied:         rn.snapIndex,
		MaxSizePerMsg:   cfg.maxSizePerMsg,
		MaxInflightMsgs: cfg.maxInflightMsgs,
		CheckQuorum:     true,
		PreVote:         true,
		Logger:          raftLogger{cfg.logger},
	}
	// etcd raft panics on a configuration or storage it cannot use; a
	// library returns an error instead.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("raft: start: %v", r)
		}
	}()
	fresh := last == 0 && raft.IsEmptySnap(snap)
	if fresh {
		rn.node = raft.StartNode(rc, []raft.Peer{{ID: cfg.id}})
	} else {
		rn.node = raft.RestartNode(rc)
	}
	rn.nextSnap = time.Now().Add(jitter(cfg.snapInterval))
	return rn, nil
}

// jitter returns a duration in [d, 2d), so servers do not snapshot together.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + rand.N(d)
}

// run is the Ready loop; it returns when the node stops.
func (rn *raftNode) run() {
	defer close(rn.donec)
	tick := time.NewTicker(rn.cfg.baseTick)
	defer tick.Stop()
	defer rn.node.Stop()
	for {
		select {
		case <-tick.C:
			rn.node.Tick()
			rn.maybeSnapshot()
		case rd := <-rn.node.Ready():
			if err := rn.handleReady(rd); err != nil {
				// Fail-stop: a server that cannot persist must not go on.
				rn.cfg.logger.Error("raft node stopped", "error", err)
				rn.setErr(err)
				rn.setLeader(false, 0)
				rn.failWaiters(err)
				return
			}
		case <-rn.stopc:
			rn.setLeader(false, 0)
			rn.failWaiters(ErrShutdown)
			return
		}
	}
}

func (rn *raftNode) handleReady(rd raft.Ready) error {
	if rd.SoftState != nil {
		// Losing leadership fails waiters before any further entry is applied.
		rn.setLeader(rd.SoftState.RaftState == raft.StateLeader, rd.SoftState.Lead)
	}
	if err := rn.store.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
		return fmt.Errorf("persist ready: %w", err)
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := rn.restoreFSM(rd.Snapshot); err != nil {
			return err
		}
		rn.applied.Store(rd.Snapshot.GetMetadata().GetIndex())
	}
	// A single server has no peers to send to; messages addressed to
	// others wait for the cluster transport.
	for _, e := range rd.CommittedEntries {
		if err := rn.applyEntry(e); err != nil {
			return err
		}
	}
	rn.node.Advance()
	rn.campaignIfAlone()
	return nil
}

// campaignIfAlone starts an election at once when this server is the only
// voter and there is no leader: a lone voter need not wait out an election
// timeout. It runs after Advance, once the configuration is applied.
func (rn *raftNode) campaignIfAlone() {
	if rn.leaderID.Load() != 0 || rn.campaigned {
		return
	}
	if v := rn.confState.GetVoters(); len(v) == 1 && v[0] == rn.cfg.id {
		rn.campaigned = true
		_ = rn.node.Campaign(context.Background())
	}
}

func (rn *raftNode) applyEntry(e *raftpb.Entry) error {
	switch e.GetType() {
	case raftpb.EntryNormal:
		cmd, _, err := rn.fsm.apply(e.GetIndex(), e.GetData())
		if cmd == nil && err != nil {
			// An entry no server can decode was proposed by a bug, not by input:
			// skip it on every server alike rather than stop.
			rn.cfg.logger.Error("skipping undecodable raft entry", "index", e.GetIndex(), "error", err)
		} else if cmd != nil {
			rn.trigger(cmd.RequestId, applyResult{index: e.GetIndex(), err: err})
		}
	case raftpb.EntryConfChange:
		var cc raftpb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("decode conf change %d: %w", e.GetIndex(), err)
		}
		rn.confState = rn.node.ApplyConfChange(&cc)
	case raftpb.EntryConfChangeV2:
		var cc raftpb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("decode conf change %d: %w", e.GetIndex(), err)
		}
		rn.confState = rn.node.ApplyConfChange(&cc)
	}
	rn.applied.Store(e.GetIndex())
	return nil
}

func (rn *raftNode) restoreFSM(snap *raftpb.Snapshot) error {
	var st structs.StateSnapshot
	if err := proto.Unmarshal(snap.GetData(), &st); err != nil {
		return fmt.Errorf("decode snapshot at %d: %w", snap.GetMetadata().GetIndex(), err)
	}
	rn.fsm.restore(&st)
	rn.snapIndex = snap.GetMetadata().GetIndex()
	rn.confState = snap.GetMetadata().GetConfState()
	return nil
}

// maybeSnapshot takes a snapshot when enough entries were applied since the
// last one, checked on the jittered snapshot interval; it keeps the trailing
// logs so slow followers can catch up from the log.
func (rn *raftNode) maybeSnapshot() {
	now := time.Now()
	if now.Before(rn.nextSnap) {
		return
	}
	rn.nextSnap = now.Add(jitter(rn.cfg.snapInterval))
	applied := rn.applied.Load()
	if applied <= rn.snapIndex || applied-rn.snapIndex < rn.cfg.snapThreshold {
		return
	}
	if err := rn.snapshot(applied); err != nil {
		rn.cfg.logger.Warn("raft snapshot failed", "index", applied, "error", err)
	}
}

func (rn *raftNode) snapshot(applied uint64) error {
	data, err := proto.Marshal(rn.fsm.state.Snapshot().Persist())
	if err != nil {
		return err
	}
	if _, err := rn.store.CreateSnapshot(applied, rn.confState, data); err != nil {
		return err
	}
	rn.snapIndex = applied
	if applied > rn.cfg.trailingLogs {
		first, err := rn.store.FirstIndex()
		if err != nil {
			return err
		}
		if compact := applied - rn.cfg.trailingLogs; compact > first {
			if err := rn.store.Compact(compact); err != nil && !errors.Is(err, raft.ErrCompacted) {
				return err
			}
		}
	}
	rn.cfg.logger.Info("raft snapshot taken", "index", applied)
	return nil
}

func (rn *raftNode) setLeader(isLeader bool, lead uint64) {
	if old := rn.leaderID.Swap(lead); old != lead && rn.cfg.onLeaderID != nil {
		rn.cfg.onLeaderID(lead)
	}
	was := rn.leader.Swap(isLeader)
	if was && !isLeader {
		rn.failWaiters(ErrNotLeader)
	}
	if was != isLeader && rn.cfg.onLeaderChange != nil {
		rn.cfg.onLeaderChange(isLeader)
	}
}

// propose replicates cmd and waits until it is applied on this server,
// returning the raft index it was applied at.
func (rn *raftNode) propose(ctx context.Context, cmd *structs.LogCommand) (uint64, error) {
	if err := rn.Err(); err != nil {
		return 0, err
	}
	select {
	case <-rn.donec:
		return 0, ErrShutdown
	default:
	}
	if !rn.leader.Load() {
		return 0, ErrNotLeader
	}
	id := rn.nextID.Add(1)
	cmd.RequestId = id
	if cmd.Time == 0 {
		cmd.Time = rn.cfg.now().UnixNano()
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

	ctx, cancel := context.WithTimeout(ctx, rn.cfg.proposeTimeout)
	defer cancel()
	start := time.Now()
	if err := rn.node.Propose(ctx, data); err != nil {
		return 0, rn.mapErr(ctx, err)
	}
	select {
	case res := <-ch:
		if res.err == nil && rn.cfg.onCommit != nil {
			rn.cfg.onCommit(time.Since(start))
		}
		return res.index, res.err
	case <-ctx.Done():
		return 0, rn.mapErr(ctx, ctx.Err())
	case <-rn.donec:
		return 0, ErrShutdown
	}
}

func (rn *raftNode) mapErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, raft.ErrStopped):
		return ErrShutdown
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && !rn.leader.Load():
		return ErrNoLeader
	}
	return err
}

// barrier commits an empty command and waits for it: once it returns, this
// server has applied everything committed before it.
func (rn *raftNode) barrier(ctx context.Context) (uint64, error) {
	return rn.propose(ctx, &structs.LogCommand{})
}

func (rn *raftNode) trigger(id uint64, res applyResult) {
	rn.waitMu.Lock()
	ch := rn.waits[id]
	delete(rn.waits, id)
	rn.waitMu.Unlock()
	if ch != nil {
		ch <- res
	}
}

func (rn *raftNode) failWaiters(err error) {
	rn.waitMu.Lock()
	defer rn.waitMu.Unlock()
	for id, ch := range rn.waits {
		ch <- applyResult{err: err}
		delete(rn.waits, id)
	}
}

func (rn *raftNode) setErr(err error) {
	rn.errMu.Lock()
	defer rn.errMu.Unlock()
	if rn.err == nil {
		rn.err = err
	}
}

// Err is the error that stopped the node, if any.
func (rn *raftNode) Err() error {
	rn.errMu.Lock()
	defer rn.errMu.Unlock()
	return rn.err
}

// isLeader reports whether this server currently leads.
func (rn *raftNode) isLeader() bool { return rn.leader.Load() }

// stop halts the Ready loop and waits for it.
func (rn *raftNode) stop() {
	rn.stopOnce.Do(func() { close(rn.stopc) })
	<-rn.donec
}
