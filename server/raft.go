package server

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
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
	id   uint64
	self *structs.RaftPeer

	snapThreshold  uint64
	snapInterval   time.Duration
	trailingLogs   uint64
	proposeTimeout time.Duration
	// leaderWait bounds how long a call waits for a leader before it fails
	// with ErrNoLeader.
	leaderWait time.Duration
	// now is the clock recorded in proposed commands.
	now            func() time.Time
	logger         *slog.Logger
	onLeaderChange func(isLeader bool)
	onCaughtUp     func()
	onPeersChange  func()
	// onCommit and onLeaderID, when set, observe commit latency and each
	// change of the known leader (for metrics).
	onCommit        func(time.Duration)
	onLeaderID      func(lead uint64)
	metrics         *metrics
	baseTick        time.Duration
	electionTicks   int
	heartbeatTicks  int
	maxSizePerMsg   uint64
	maxInflightMsgs int
}

// startMode says how a raft node begins.
type startMode int

const (
	// startRestart continues from the state in the store.
	startRestart startMode = iota
	// startBootstrap begins a new cluster with a fixed set of voters.
	startBootstrap
	// startJoin begins empty and waits for the leader to send the log.
	startJoin
)

// applyResult is what a proposer is told once its entry is applied.
type applyResult struct {
	index uint64
	err   error
}

// raftNode owns an etcd raft.RawNode. One goroutine, run, does everything
// with it: ticks, steps incoming messages, proposes, persists each Ready to
// the Store, sends messages, applies committed entries to the FSM and hands
// each proposer its result. Other goroutines talk to it through channels,
// so many proposals made at once land in one Ready and one fsync.
type raftNode struct {
	cfg raftConfig
	// tuning, once set, overrides cfg's snapshot settings (see reload.go).
	tuning    atomic.Pointer[snapshotTuning]
	store     store.Store
	fsm       *fsm
	snaps     snapshotStore
	peers     *peerSet
	transport *raftTransport

	rn *raft.RawNode // owned by run

	recvc   chan *raftpb.Message
	propc   chan []byte
	readc   chan []byte
	confc   chan *raftpb.ConfChange
	statusc chan chan raft.Status
	xferc   chan uint64
	reportc chan func(*raft.RawNode)

	nextID atomic.Uint64
	waitMu sync.Mutex
	waits  map[uint64]chan applyResult
	reads  map[uint64]chan uint64

	started atomic.Bool
	leader  atomic.Bool
	// leaderReady: this server leads and has applied an entry of its own
	// term, so its state holds everything committed before it led.
	leaderReady atomic.Bool
	leaderID    atomic.Uint64
	term        atomic.Uint64
	applied     atomic.Uint64
	// lastContact is when a follower last heard from its leader (unix nanos).
	lastContact atomic.Int64
	// heard maps a peer's id to when a message from it last arrived (unix nanos).
	heard sync.Map

	notifyMu  sync.Mutex
	appliedCh chan struct{} // closed and replaced when applied moves
	leaderCh  chan struct{} // closed and replaced when the leader changes

	// Owned by run.
	confState    *raftpb.ConfState
	pendingReads []pendingRead
	nextSnap     time.Time
	campaigned   bool
	caughtUp     bool

	snapIndex atomic.Uint64
	snapBusy  atomic.Bool
	snapWG    sync.WaitGroup

	lifeMu   sync.Mutex
	stopped  bool
	startedc chan struct{} // closed by launch
	stopc    chan struct{}
	donec    chan struct{}
	errMu    sync.Mutex
	err      error
}

type pendingRead struct {
	id    uint64
	index uint64
}

func newRaftNode(cfg raftConfig, st store.Store, f *fsm, snaps snapshotStore, pool *connPool) *raftNode {
	rn := &raftNode{
		cfg: cfg, store: st, fsm: f, snaps: snaps, peers: newPeerSet(),
		recvc:     make(chan *raftpb.Message, 4096),
		propc:     make(chan []byte, 4096),
		readc:     make(chan []byte, 1024),
		confc:     make(chan *raftpb.ConfChange, 16),
		statusc:   make(chan chan raft.Status),
		xferc:     make(chan uint64, 1),
		reportc:   make(chan func(*raft.RawNode), 4096),
		waits:     map[uint64]chan applyResult{},
		reads:     map[uint64]chan uint64{},
		appliedCh: make(chan struct{}),
		leaderCh:  make(chan struct{}),
		stopc:     make(chan struct{}),
		donec:     make(chan struct{}),
		startedc:  make(chan struct{}),
	}
	rn.nextID.Store(rand.Uint64() >> 1)
	rn.transport = newRaftTransport(cfg.id, cfg.self.GetAddr(), pool, snaps, cfg.logger)
	rn.transport.report = reporter{rn}
	return rn
}

// hasState reports whether the store holds raft state: the server
// bootstrapped or joined before.
func hasState(st store.Store) (bool, error) {
	last, err := st.LastIndex()
	if err != nil {
		return false, err
	}
	snap, err := st.Snapshot()
	if err != nil {
		return false, err
	}
	hs, _, err := st.InitialState()
	if err != nil {
		return false, err
	}
	return last > 0 || !raft.IsEmptySnap(snap) || !raft.IsEmptyHardState(hs), nil
}

// start restores the FSM from the store's snapshot and creates the raw
// node. Nothing is applied until run is called, so the caller can finish
// wiring first.
func (rn *raftNode) start(mode startMode, bootstrap []*structs.RaftPeer) (err error) {
	// etcd raft panics on a configuration or storage it cannot use; a
	// library returns an error instead.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("raft: start: %v", r)
		}
	}()
	snap, err := rn.store.Snapshot()
	if err != nil {
		return fmt.Errorf("raft: read snapshot: %w", err)
	}
	if !raft.IsEmptySnap(snap) {
		if err := rn.restoreSnapshot(snap); err != nil {
			return err
		}
	}
	_, cs, err := rn.store.InitialState()
	if err != nil {
		return fmt.Errorf("raft: read initial state: %w", err)
	}
	rn.confState = cs
	rc := &raft.Config{
		ID:                        rn.cfg.id,
		ElectionTick:              rn.cfg.electionTicks,
		HeartbeatTick:             rn.cfg.heartbeatTicks,
		Storage:                   rn.store,
		Applied:                   rn.snapIndex.Load(),
		MaxSizePerMsg:             rn.cfg.maxSizePerMsg,
		MaxInflightMsgs:           rn.cfg.maxInflightMsgs,
		MaxUncommittedEntriesSize: 1 << 30,
		CheckQuorum:               true,
		PreVote:                   true,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{rn.cfg.logger},
	}
	rn.rn, err = raft.NewRawNode(rc)
	if err != nil {
		return fmt.Errorf("raft: start: %w", err)
	}
	if mode == startBootstrap {
		peers := make([]raft.Peer, len(bootstrap))
		for i, p := range bootstrap {
			p = proto.CloneOf(p)
			p.Voter = true
			peers[i] = raft.Peer{ID: p.Id, Context: encodePeer(p)}
		}
		if err := rn.rn.Bootstrap(peers); err != nil {
			return fmt.Errorf("raft: bootstrap: %w", err)
		}
		// Known at once, before the entries that record it are applied, so
		// peers asking about this server see the cluster it began.
		all := make([]*structs.RaftPeer, len(bootstrap))
		for i, p := range bootstrap {
			all[i] = proto.CloneOf(p)
			all[i].Voter = true
		}
		rn.peers.restore(0, all, nil)
	}
	rn.transport.setPeers(rn.peerList())
	rn.nextSnap = time.Now().Add(jitter(rn.snapTuning().interval))
	return nil
}

// launch starts the raft loop, unless the node was stopped first.
func (rn *raftNode) launch() error {
	rn.lifeMu.Lock()
	defer rn.lifeMu.Unlock()
	if rn.stopped {
		return ErrShutdown
	}
	rn.started.Store(true)
	close(rn.startedc)
	go rn.run()
	return nil
}

// jitter returns a duration in [d, 2d), so servers do not snapshot together.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + rand.N(d)
}

// run is the raft loop; it returns when the node stops. A panic inside
// raft (a broken invariant, or a peer that lost its log) stops this server
// with an error instead of crashing the host program.
func (rn *raftNode) run() {
	defer close(rn.donec)
	defer rn.transport.stop()
	defer rn.snapWG.Wait()
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("raft: %v", r)
			rn.cfg.logger.Error("raft node stopped after a panic", "error", err, "stack", string(debug.Stack()))
			rn.halt(err)
		}
	}()
	tick := time.NewTicker(rn.cfg.baseTick)
	defer tick.Stop()
	for {
		if err := rn.drainReady(); err != nil {
			// Fail-stop: a server that cannot persist must not go on.
			rn.cfg.logger.Error("raft node stopped", "error", err)
			rn.halt(err)
			return
		}
		select {
		case <-tick.C:
			rn.rn.Tick()
			rn.maybeSnapshot()
		case m := <-rn.recvc:
			rn.stepMsg(m)
			rn.drainRecv()
		case data := <-rn.propc:
			rn.proposeData(data)
			rn.drainProposals()
		case rctx := <-rn.readc:
			rn.rn.ReadIndex(rctx)
		case cc := <-rn.confc:
			if err := rn.rn.ProposeConfChange(cc); err != nil {
				rn.cfg.logger.Debug("configuration change not proposed", "error", err)
			}
		case to := <-rn.xferc:
			rn.rn.TransferLeader(to)
		case f := <-rn.reportc:
			f(rn.rn)
		case ch := <-rn.statusc:
			ch <- rn.rn.Status()
		case <-rn.stopc:
			rn.setLeader(false, 0)
			rn.failWaiters(ErrShutdown)
			return
		}
	}
}

// halt records err, gives up leadership and fails every waiter.
func (rn *raftNode) halt(err error) {
	rn.setErr(err)
	rn.setLeader(false, 0)
	rn.failWaiters(err)
}

func (rn *raftNode) stepMsg(m *raftpb.Message) {
	if err := rn.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) && !errors.Is(err, raft.ErrStepLocalMsg) {
		rn.cfg.logger.Debug("raft step", "error", err)
	}
}

// drainRecv steps what else has arrived, so one Ready answers many messages.
func (rn *raftNode) drainRecv() {
	for range 256 {
		select {
		case m := <-rn.recvc:
			rn.stepMsg(m)
		default:
			return
		}
	}
}

func (rn *raftNode) proposeData(data []byte) {
	if err := rn.rn.Propose(data); err != nil {
		// Dropped (no leader, or a leadership transfer): the proposer's
		// wait learns it from its decoded request id.
		var cmd structs.LogCommand
		if proto.Unmarshal(data, &cmd) == nil {
			rn.trigger(cmd.RequestId, applyResult{err: ErrNotLeader})
		}
	}
}

// drainProposals takes every proposal already queued: they share a Ready.
func (rn *raftNode) drainProposals() {
	for range 4096 {
		select {
		case data := <-rn.propc:
			rn.proposeData(data)
		default:
			return
		}
	}
}

func (rn *raftNode) stoppedErr() error {
	if err := rn.Err(); err != nil {
		return err
	}
	return ErrShutdown
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

// stop halts the raft loop and waits for it.
func (rn *raftNode) stop() {
	rn.lifeMu.Lock()
	first := !rn.stopped
	rn.stopped = true
	running := rn.started.Load()
	rn.lifeMu.Unlock()
	if first {
		close(rn.stopc)
		if !running {
			rn.transport.stop()
			close(rn.donec)
		}
	}
	<-rn.donec
}
