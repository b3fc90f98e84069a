package raft

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	etcdraft "go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/structs"
)

// NodeConfig is what a node is built with: the operator's settings
// (Config: timing multiplier, snapshot policy), its identity, its
// timing, and where it reports what happens.
type NodeConfig struct {
	// Config holds the operator's settings. Its snapshot policy is used as
	// given; its Multiplier is read through BaseTick.
	Config

	// ID is this server's raft id, never reused; Self describes this
	// server to its peers (name, RPC address, region, voter).
	ID   uint64
	Self *structs.RaftPeer

	// BaseTick is the interval of raft's logical clock, default
	// Config.TickInterval(). An election times out after ElectionTicks
	// ticks without hearing from a leader; a leader sends heartbeats every
	// HeartbeatTicks.
	BaseTick       time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	// MaxSizePerMsg bounds the bytes of entries in one append message;
	// MaxInflightMsgs the append messages in flight to one follower.
	MaxSizePerMsg   uint64
	MaxInflightMsgs int

	// ProposeTimeout bounds how long Propose waits for its entry to apply.
	ProposeTimeout time.Duration
	// LeaderWait bounds how long a call waits for a leader before it fails
	// with structs.ErrNoLeader.
	LeaderWait time.Duration
	// Clock is the node's time: its tick (a ticker of BaseTick on it), the
	// snapshot checks, the times recorded in proposed commands and
	// snapshot headers. Default the real clock.
	Clock clock.Clock

	// Logger receives the node's logs and etcd raft's; default discard.
	Logger *slog.Logger
	// Metrics are the collectors the node reports to; nil means a set of
	// its own that nobody reads.
	Metrics *Metrics

	// OnLeaderChange is called when this server becomes (true) or stops
	// being (false) the leader; OnCaughtUp once a follower has applied
	// what its leader had committed when it first heard of it;
	// OnPeersChange when the peer set changes (a configuration change or
	// a raft snapshot applied). All run on the node's goroutine and must
	// not block for long: nothing is applied meanwhile.
	OnLeaderChange func(isLeader bool)
	OnCaughtUp     func()
	OnPeersChange  func()
}

// StartMode says how a raft node begins.
type StartMode int

const (
	// StartRestart continues from the state in the log store.
	StartRestart StartMode = iota
	// StartBootstrap begins a new cluster with a fixed set of voters.
	StartBootstrap
	// StartJoin begins empty and waits for the leader to send the log.
	StartJoin
)

// applyResult is what a proposer is told once its entry is applied.
type applyResult struct {
	index uint64
	err   error
}

// Node owns an etcd raft RawNode. One goroutine, run, does everything
// with it: ticks, steps incoming messages, proposes, persists each Ready to
// the log store, sends messages, applies committed entries to the FSM and
// hands each proposer its result. Other goroutines talk to it through
// channels, so many proposals made at once land in one Ready and one fsync.
type Node struct {
	cfg       NodeConfig
	logs      LogStore
	fsm       FSM
	snaps     SnapshotStore
	peers     *PeerSet
	transport *raftTransport
	metrics   *Metrics

	rn *etcdraft.RawNode // owned by run

	recvc   chan *raftpb.Message
	propc   chan []byte
	readc   chan []byte
	confc   chan *raftpb.ConfChange
	statusc chan chan etcdraft.Status
	tickc   chan chan struct{}
	xferc   chan uint64
	reportc chan func(*etcdraft.RawNode)

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
	snapPolicy   snapshotPolicy
	campaigned   bool
	caughtUp     bool

	// settings, once set, replace the configured snapshot settings.
	settings  atomic.Pointer[SnapshotSettings]
	snapIndex atomic.Uint64
	snapBusy  atomic.Bool
	snapWG    sync.WaitGroup

	lifeMu   sync.Mutex
	stopped  bool
	startedc chan struct{} // closed by Start
	stopc    chan struct{}
	donec    chan struct{}
	errMu    sync.Mutex
	err      error
}

type pendingRead struct {
	id    uint64
	index uint64
}

// NewNode returns a node that keeps its log in logs, applies committed
// commands to fsm, keeps raft snapshot files in snaps and reaches its
// peers through dialer. Nothing runs until Start.
func NewNode(cfg NodeConfig, logs LogStore, fsm FSM, snaps SnapshotStore, dialer Dialer) *Node {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.BaseTick <= 0 {
		cfg.BaseTick = cfg.TickInterval()
	}
	rn := &Node{
		cfg: cfg, logs: logs, fsm: fsm, snaps: snaps, peers: newPeerSet(), metrics: cfg.Metrics,
		recvc:      make(chan *raftpb.Message, 4096),
		propc:      make(chan []byte, 4096),
		readc:      make(chan []byte, 1024),
		confc:      make(chan *raftpb.ConfChange, 16),
		statusc:    make(chan chan etcdraft.Status),
		tickc:      make(chan chan struct{}),
		xferc:      make(chan uint64, 1),
		reportc:    make(chan func(*etcdraft.RawNode), 4096),
		waits:      map[uint64]chan applyResult{},
		reads:      map[uint64]chan uint64{},
		appliedCh:  make(chan struct{}),
		leaderCh:   make(chan struct{}),
		stopc:      make(chan struct{}),
		donec:      make(chan struct{}),
		startedc:   make(chan struct{}),
		snapPolicy: snapshotPolicy{threshold: cfg.SnapshotThreshold, interval: cfg.SnapshotInterval},
	}
	rn.nextID.Store(rand.Uint64() >> 1)
	rn.transport = newRaftTransport(cfg.ID, cfg.Self.GetAddr(), dialer, snaps, cfg.Logger, cfg.Clock)
	rn.transport.report = reporter{rn}
	rn.transport.sent = func() { rn.metrics.snapshots.WithLabelValues("sent").Inc() }
	return rn
}

// HasState reports whether the log store holds raft state: the server
// bootstrapped or joined before.
func HasState(logs LogStore) (bool, error) {
	last, err := logs.LastIndex()
	if err != nil {
		return false, err
	}
	snap, err := logs.Snapshot()
	if err != nil {
		return false, err
	}
	hs, _, err := logs.InitialState()
	if err != nil {
		return false, err
	}
	return last > 0 || !etcdraft.IsEmptySnap(snap) || !etcdraft.IsEmptyHardState(hs), nil
}

// Start restores the FSM from the latest raft snapshot, creates the raft
// state machine (bootstrapping a cluster of the given voters in
// StartBootstrap) and starts the node's goroutine, which replays the log
// after the snapshot. It fails with structs.ErrShutdown once Stop was called.
func (rn *Node) Start(mode StartMode, bootstrap []*structs.RaftPeer) error {
	if err := rn.init(mode, bootstrap); err != nil {
		return err
	}
	return rn.launch()
}

// init restores the FSM from the log store's snapshot and creates the raw
// node.
func (rn *Node) init(mode StartMode, bootstrap []*structs.RaftPeer) (err error) {
	// etcd raft panics on a configuration or storage it cannot use; a
	// library returns an error instead.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("raft: start: %v", r)
		}
	}()
	snap, err := rn.logs.Snapshot()
	if err != nil {
		return fmt.Errorf("raft: read snapshot: %w", err)
	}
	if !etcdraft.IsEmptySnap(snap) {
		if err := rn.restoreSnapshot(snap); err != nil {
			return err
		}
	}
	_, cs, err := rn.logs.InitialState()
	if err != nil {
		return fmt.Errorf("raft: read initial state: %w", err)
	}
	rn.confState = cs
	rc := &etcdraft.Config{
		ID:                        rn.cfg.ID,
		ElectionTick:              rn.cfg.ElectionTicks,
		HeartbeatTick:             rn.cfg.HeartbeatTicks,
		Storage:                   rn.logs,
		Applied:                   rn.snapIndex.Load(),
		MaxSizePerMsg:             rn.cfg.MaxSizePerMsg,
		MaxInflightMsgs:           rn.cfg.MaxInflightMsgs,
		MaxUncommittedEntriesSize: 1 << 30,
		CheckQuorum:               true,
		PreVote:                   true,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{rn.cfg.Logger},
	}
	rn.rn, err = etcdraft.NewRawNode(rc)
	if err != nil {
		return fmt.Errorf("raft: start: %w", err)
	}
	if mode == StartBootstrap {
		peers := make([]etcdraft.Peer, len(bootstrap))
		for i, p := range bootstrap {
			p = proto.CloneOf(p)
			p.Voter = true
			peers[i] = etcdraft.Peer{ID: p.Id, Context: encodePeer(p)}
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
	rn.transport.setPeers(rn.peers.List())
	rn.snapPolicy.start(rn.cfg.Clock.Now())
	return nil
}

// launch starts the raft loop, unless the node was stopped first.
func (rn *Node) launch() error {
	rn.lifeMu.Lock()
	defer rn.lifeMu.Unlock()
	if rn.stopped {
		return structs.ErrShutdown
	}
	rn.started.Store(true)
	close(rn.startedc)
	go rn.run()
	return nil
}

// run is the raft loop; it returns when the node stops. A panic inside
// raft (a broken invariant, or a peer that lost its log) stops this server
// with an error instead of crashing the host program.
func (rn *Node) run() {
	defer close(rn.donec)
	defer rn.transport.stop()
	defer rn.snapWG.Wait()
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("raft: %v", r)
			rn.cfg.Logger.Error("raft node stopped after a panic", "error", err, "stack", string(debug.Stack()))
			rn.halt(err)
		}
	}()
	tick := rn.cfg.Clock.NewTicker(rn.cfg.BaseTick)
	defer tick.Stop()
	for {
		if err := rn.drainReady(); err != nil {
			// Fail-stop: a server that cannot persist must not go on.
			rn.cfg.Logger.Error("raft node stopped", "error", err)
			rn.halt(err)
			return
		}
		select {
		case <-tick.C():
			rn.tick()
		case done := <-rn.tickc:
			rn.tick()
			close(done)
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
				rn.cfg.Logger.Debug("configuration change not proposed", "error", err)
			}
		case to := <-rn.xferc:
			rn.rn.TransferLeader(to)
		case f := <-rn.reportc:
			f(rn.rn)
		case ch := <-rn.statusc:
			ch <- rn.rn.Status()
		case <-rn.stopc:
			rn.setLeader(false, 0)
			rn.failWaiters(structs.ErrShutdown)
			return
		}
	}
}

// Tick advances the node's logical clock by one tick, as the ticker of
// its clock does every BaseTick: elections and heartbeats are counted in
// ticks, and a due raft snapshot is taken on a tick. A test drives a node
// with a fake clock and Tick. It returns once the node has ticked, or at
// once when the node is not running.
func (rn *Node) Tick() {
	select {
	case <-rn.startedc:
	default:
		return
	}
	done := make(chan struct{})
	select {
	case rn.tickc <- done:
	case <-rn.donec:
		return
	}
	select {
	case <-done:
	case <-rn.donec:
	}
}

// tick is one tick, on the node's goroutine.
func (rn *Node) tick() {
	rn.rn.Tick()
	rn.maybeSnapshot()
}

// halt records err, gives up leadership and fails every waiter.
func (rn *Node) halt(err error) {
	rn.setErr(err)
	rn.setLeader(false, 0)
	rn.failWaiters(err)
}

func (rn *Node) stepMsg(m *raftpb.Message) {
	if err := rn.rn.Step(m); err != nil && !errors.Is(err, etcdraft.ErrStepPeerNotFound) && !errors.Is(err, etcdraft.ErrStepLocalMsg) {
		rn.cfg.Logger.Debug("raft step", "error", err)
	}
}

// drainRecv steps what else has arrived, so one Ready answers many messages.
func (rn *Node) drainRecv() {
	for range 256 {
		select {
		case m := <-rn.recvc:
			rn.stepMsg(m)
		default:
			return
		}
	}
}

func (rn *Node) proposeData(data []byte) {
	if err := rn.rn.Propose(data); err != nil {
		// Dropped (no leader, or a leadership transfer): the proposer's
		// wait learns it from its decoded request id.
		var cmd structs.LogCommand
		if proto.Unmarshal(data, &cmd) == nil {
			rn.trigger(cmd.RequestId, applyResult{err: structs.ErrNotLeader})
		}
	}
}

// drainProposals takes every proposal already queued: they share a Ready.
func (rn *Node) drainProposals() {
	for range 4096 {
		select {
		case data := <-rn.propc:
			rn.proposeData(data)
		default:
			return
		}
	}
}

func (rn *Node) stoppedErr() error {
	if err := rn.Err(); err != nil {
		return err
	}
	return structs.ErrShutdown
}

func (rn *Node) setErr(err error) {
	rn.errMu.Lock()
	defer rn.errMu.Unlock()
	if rn.err == nil {
		rn.err = err
	}
}

// Err is the error that stopped the node, if any.
func (rn *Node) Err() error {
	rn.errMu.Lock()
	defer rn.errMu.Unlock()
	return rn.err
}

// Done is closed once the node has stopped, by Stop or a fatal error
// (then Err says which).
func (rn *Node) Done() <-chan struct{} { return rn.donec }

// Stop halts the node's goroutine, fails every waiting call with
// structs.ErrShutdown and waits until the node is done. It is idempotent.
func (rn *Node) Stop() {
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
