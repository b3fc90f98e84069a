// Package server is the server agent: the FSM over the state store
// (package state), driven by a raft node (package raft) through the
// raft.FSM contract; gossip membership; the RPC endpoints with forwarding
// to the leader and to other regions; scheduler workers on every server
// (a follower's work for the leader's broker and plan applier over RPC);
// and the leader's services (the evaluation broker and blocked
// evaluations of package broker, plan applier, heartbeat timers, drainer,
// membership reconciliation, GC).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/server/broker"
	"github.com/droverhq/drover/server/events"
	"github.com/droverhq/drover/server/raft"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/store"
	boltstore "github.com/droverhq/drover/store/bolt"
	"github.com/droverhq/drover/structs"
	"github.com/droverhq/drover/transport/tcp"
)

// Server is a running server agent.
type Server struct {
	cfg    Config
	logger *slog.Logger
	self   *structs.RaftPeer

	store     store.Store
	ownsStore bool
	state     *state.Store
	fsm       *fsm
	raft      *raft.Node
	gossip    *gossip
	pool      *connPool
	broker    *broker.Broker
	blocked   *broker.Blocked
	ttl       *ttlTracker
	applier   *planApplier
	metrics   *metrics
	events    *events.Broker
	acls      *aclCache
	// rootKeys opens the root keys of the state: variables and workload identities.
	rootKeys *rootKeyring
	// primeMu makes the leader's first root key once: taking office and
	// a variable write arriving at that moment both prime the keyring.
	primeMu sync.Mutex
	// autopilot remembers since when each server is healthy.
	autopilot autopilotState
	// gcTuning, once set by Tune, overrides the configured GC settings.
	gcTuning atomic.Pointer[gcTuned]
	// nodeConns are the connections of the clients connected to this
	// server, through which it calls their endpoints.
	nodeConns *nodeConns
	// built is set once every field is assigned, for the gauge functions.
	built atomic.Bool
	// gcBatchSize bounds the objects one GC raft entry removes.
	gcBatchSize int
	// restoreBatch bounds the bytes of records one restore entry carries.
	restoreBatch int

	listener net.Listener
	grpc     *grpc.Server

	// left: this server left its cluster gracefully and, without
	// RejoinAfterLeave, stays out of it on restart.
	left bool
	meta serverMeta
	// discovered holds servers that asked this one about itself while it
	// had no raft state.
	discoverMu sync.Mutex
	discovered map[string]bool

	leaderEvents chan bool
	// periodicKick wakes the periodic dispatcher when periodic jobs change.
	periodicKick chan struct{}
	expired      chan string
	leaderCancel context.CancelFunc
	leaderWG     sync.WaitGroup
	bgWG         sync.WaitGroup

	readyOnce    sync.Once
	ready        chan struct{}
	done         chan struct{}
	shutdownOnce sync.Once
	// inflight counts the RPCs being handled.
	inflight atomic.Int64
	// allocUpdates and nodeRegistrations coalesce clients' allocation
	// updates and node registrations into raft entries.
	allocUpdates      *proposalBatcher[*structs.Allocation]
	nodeRegistrations *proposalBatcher[*structs.NodeUpsert]
	// reads shares raft read-index rounds among concurrent reads.
	reads readBarriers
	// stopCtx is cancelled when Shutdown starts: everything waiting gives up.
	stopCtx  context.Context
	stopFunc context.CancelFunc
	errMu    sync.Mutex
	err      error
}

// New starts a server: it opens the store, restores state, serves RPC on
// BindAddr and starts raft: at once when the server has raft state or
// bootstraps alone, otherwise once it has found its peers (see Join and
// BootstrapExpect). It returns once the server is listening; Ready tells
// when the server has a leader. A server that fails to start releases
// everything it acquired and leaves the host's registry as it was.
func New(cfg Config) (_ *Server, err error) {
	s, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.release()
		}
	}()
	if err := s.build(); err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// newServer checks cfg, fills in what New defaults, and returns a server
// that holds nothing yet.
func newServer(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Transport == nil {
		cfg.Transport = tcp.Transport{}
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	cfg.Clock = clock.Or(cfg.Clock)
	cfg.BootstrapExpect = max(cfg.BootstrapExpect, 1)
	cfg.Raft = cfg.Raft.WithDefaults()
	cfg.Keyring = cfg.Keyring.WithDefaults()
	cfg.ACL = cfg.ACL.WithDefaults()
	cfg.Join = cfg.Join.WithDefaults()
	cfg.Scheduling.PlanRejection = cfg.Scheduling.PlanRejection.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:          cfg,
		logger:       cfg.Logger.With("agent", "server", "name", cfg.Name),
		state:        state.NewStore(),
		leaderEvents: make(chan bool, 16),
		periodicKick: make(chan struct{}, 1),
		expired:      make(chan string, 1024),
		ready:        make(chan struct{}),
		done:         make(chan struct{}),
		gcBatchSize:  gcBatchSize,
		restoreBatch: restoreEntryBytes,
		acls:         newACLCache(),
		nodeConns:    newNodeConns(),

		allocUpdates:      newAllocUpdateBatcher(),
		nodeRegistrations: newNodeRegisterBatcher(),
	}
	s.stopCtx, s.stopFunc = context.WithCancel(context.Background())
	s.events = newEventBroker(cfg)
	return s, nil
}

// build acquires what the server runs on (its metrics, the store, the
// raft snapshot directory, the RPC listener) and wires its parts
// together; nothing runs yet.
func (s *Server) build() error {
	cfg := &s.cfg
	rk, err := newRootKeyring(cfg.Keyring.KeyEncryptionKey)
	if err != nil {
		return err
	}
	s.rootKeys = rk
	m, err := newMetrics(cfg.Registerer, s)
	if err != nil {
		return err
	}
	s.metrics = m
	if err := s.openStore(); err != nil {
		return err
	}
	if err := s.loadMeta(); err != nil {
		return err
	}
	id, err := loadRaftID(s.meta, s.store)
	if err != nil {
		return err
	}
	var snaps raft.SnapshotStore = raft.MemSnapshots{}
	if cfg.DataDir != "" {
		if snaps, err = raft.NewDirSnapshots(filepath.Join(cfg.DataDir, "server", "snapshots")); err != nil {
			return err
		}
	}
	s.broker = broker.New(broker.Config{DeliveryLimit: 3, NackDelay: time.Second, OnFailed: s.evalFailed, CoreType: coreEvalType,
		UnackTimeout: cfg.Scheduling.EvalNackTimeout, Clock: cfg.Clock})
	s.blocked = broker.NewBlocked()
	s.ttl = newTTLTracker(cfg.Heartbeat, cfg.FailoverTTLPinned, cfg.Clock, s.logger, s.nodeExpired)

	ln, err := cfg.Transport.Listen(cfg.BindAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.BindAddr, err)
	}
	s.listener = ln
	advertise := cfg.AdvertiseAddr
	if advertise == "" {
		advertise = advertisable(ln.Addr().String())
	}
	s.self = &structs.RaftPeer{
		Id: id, Name: cfg.Name, Addr: advertise, Region: cfg.Region, Datacenter: cfg.Datacenter, Voter: !cfg.NonVoting,
	}
	s.logger = s.logger.With("raft_id", fmt.Sprintf("%x", id))
	s.pool = newConnPool(cfg.Transport, cfg.Region, cfg.TLS != nil && cfg.VerifyServerHostname)
	s.fsm = &fsm{state: s.state, listener: s}

	s.raft = raft.NewNode(raft.NodeConfig{
		Config:          cfg.Raft,
		ID:              id,
		Self:            s.self,
		ElectionTicks:   raft.ElectionTicks,
		HeartbeatTicks:  raft.HeartbeatTicks,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		ProposeTimeout:  proposeTimeout,
		LeaderWait:      cfg.leaderWait(),
		Clock:           cfg.Clock,
		Logger:          s.logger,
		Metrics:         s.metrics.raft,
		OnLeaderChange: func(l bool) {
			select {
			case s.leaderEvents <- l:
			case <-s.stopCtx.Done():
			}
		},
		OnCaughtUp: func() { s.readyOnce.Do(func() { close(s.ready) }) },
	}, s.store, s.fsm, snaps, s.pool)
	s.applier = s.newPlanApplier()

	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(maxRPCMessage),
		grpc.Creds(tcp.GRPCCredentials(cfg.RPCHandshakeTimeout)),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	)
	structs.RegisterDroverServer(s.grpc, &rpcServer{s: s})
	s.built.Store(true)
	return nil
}

// start joins the gossip pool, starts raft when the server can (it has
// raft state, or bootstraps alone) and launches the server's goroutines.
func (s *Server) start() error {
	cfg := &s.cfg
	if !cfg.DisableGossip {
		if cfg.SerfBindAddr == "" {
			host, _, _ := net.SplitHostPort(s.listener.Addr().String())
			cfg.SerfBindAddr = net.JoinHostPort(host, "0")
		}
		g, err := s.startGossip()
		if err != nil {
			return err
		}
		s.gossip = g
	}
	has, err := raft.HasState(s.store)
	if err != nil {
		return err
	}
	switch {
	case has:
		err = s.startRaft(raft.StartRestart, nil)
	case s.left:
		// A server that left stays out: no raft until it is told to rejoin.
	case cfg.BootstrapExpect <= 1 && len(cfg.StaticPeers) == 0 && len(cfg.Join.RetryJoin) == 0 && !cfg.NonVoting:
		err = s.startRaft(raft.StartBootstrap, []*structs.RaftPeer{s.self})
	}
	if err != nil {
		return err
	}
	ln := s.listener
	s.background(func() { _ = s.grpc.Serve(ln) })
	s.background(s.leaderLoop)
	s.background(s.watchRaft)
	s.startFollowerWorkers()
	if !s.raft.Started() && !s.left {
		s.background(s.joinOrBootstrap)
	}
	if s.gossip != nil && len(cfg.Join.RetryJoin) > 0 && !s.left {
		s.background(s.retryJoin)
	}
	if s.left {
		s.logger.Warn("this server left its cluster and stays out of it; set RejoinAfterLeave to rejoin as a new server on start")
	}
	s.logger.Info("server started", "addr", ln.Addr().String(), "advertise", s.self.Addr, "region", cfg.Region,
		"datacenter", cfg.Datacenter, "bootstrap_expect", cfg.BootstrapExpect, "non_voting", cfg.NonVoting)
	return nil
}

// background runs f on a goroutine Shutdown waits for.
func (s *Server) background(f func()) {
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		f()
	}()
}

// watchRaft stops the server when its raft node stops with an error.
func (s *Server) watchRaft() {
	select {
	case <-s.raft.Done():
		if err := s.raft.Err(); err != nil {
			s.setErr(err)
			go s.Shutdown(context.Background())
		}
	case <-s.stopCtx.Done():
	}
}

// release gives back what a server that failed to start acquired: its
// listener, gossip membership, connections, store and metrics.
func (s *Server) release() {
	s.stopFunc()
	if s.listener != nil {
		s.listener.Close()
	}
	if s.gossip != nil {
		s.gossip.shutdown()
	}
	if s.pool != nil {
		s.pool.close()
	}
	s.closeStore()
	if s.events != nil {
		s.events.Close()
	}
	if s.metrics != nil {
		// A server that did not start leaves the host's registry as it was.
		s.metrics.unregister()
	}
}

func (s *Server) openStore() error {
	if s.cfg.DataDir != "" {
		// Also with the host's store: the snapshots and metadata files
		// are kept there.
		if err := s.privateServerDir(); err != nil {
			return err
		}
	}
	s.store = s.cfg.Store
	if s.store != nil {
		return nil
	}
	if s.cfg.DataDir == "" {
		return errors.New("server: a data dir or a store is required")
	}
	dir := filepath.Join(s.cfg.DataDir, "server")
	bs, err := boltstore.Open(filepath.Join(dir, "raft.db"), boltstore.Options{NoFreelistSync: s.cfg.Raft.BoltNoFreelistSync})
	if err != nil {
		return fmt.Errorf("open raft store: %w", err)
	}
	s.store, s.ownsStore = bs, true
	return nil
}

// loadMeta reads what the server keeps with its raft log and acts on a
// graceful leave: with RejoinAfterLeave the server starts over as a new
// one (a new raft id, the state taken from the cluster); without it, it
// stays out.
func (s *Server) loadMeta() error {
	meta, err := newServerMeta(s.store, s.cfg.DataDir)
	if err != nil {
		return err
	}
	left, err := hasLeft(meta)
	if err != nil {
		return fmt.Errorf("read leave mark: %w", err)
	}
	if left && s.cfg.RejoinAfterLeave {
		s.logger.Info("this server left its cluster; rejoining as a new server (rejoin_after_leave)")
		if err := s.resetRaftState(); err != nil {
			return err
		}
		if meta, err = newServerMeta(s.store, s.cfg.DataDir); err != nil {
			return err
		}
		left = false
	}
	s.meta, s.left = meta, left
	return nil
}

// startRaft starts the raft node in mode.
func (s *Server) startRaft(mode raft.StartMode, bootstrap []*structs.RaftPeer) error {
	if err := s.raft.Start(mode, bootstrap); err != nil {
		return err
	}
	if mode == raft.StartBootstrap {
		s.logger.Info("bootstrapping the cluster", "servers", len(bootstrap))
	}
	return nil
}

// Addr is the address the server's RPC listener is bound to.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Ready is closed once the server leads, or knows its leader, and serves.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Done is closed once the server has stopped, by Shutdown or a fatal error.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the fatal error that stopped the server, or nil.
func (s *Server) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *Server) setErr(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// IsLeader reports whether this server currently leads the cluster.
func (s *Server) IsLeader() bool { return s.raft.IsLeader() }

// WaitForLeader blocks until the server is Ready or ctx is done.
func (s *Server) WaitForLeader(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-s.done:
		return ErrShutdown
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
	}
}

// shutdownGrace bounds how long Shutdown waits for in-flight RPCs, which
// it has told to end, before it closes their connections.
const shutdownGrace = 500 * time.Millisecond

// Shutdown stops every goroutine the server started and closes its store.
// It is idempotent. In-flight RPCs are told to end at once (blocking
// queries return what they have); ctx, and at most shutdownGrace, bound
// the wait for them before their connections are closed, so that raft
// stops, and the cluster elects another leader, without delay.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.stopFunc()
		stopped := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(stopped)
		}()
		grace := time.NewTimer(shutdownGrace) // bounds the host's wait, on the wall clock as ctx does
		select {
		case <-stopped:
		case <-ctx.Done():
		case <-grace.C:
		}
		grace.Stop()
		select {
		case <-stopped:
		default:
			s.grpc.Stop()
			<-stopped
		}
		s.raft.Stop()
		if s.gossip != nil {
			s.gossip.shutdown()
		}
		s.pool.close()
		if s.events != nil {
			s.events.Close()
		}
		s.bgWG.Wait()
		s.revokeLeadership()
		s.closeStore()
		s.metrics.unregister()
		s.logger.Info("server stopped")
		close(s.done)
	})
	<-s.done
	return nil
}

func (s *Server) closeStore() {
	if s.ownsStore {
		if err := s.store.Close(); err != nil {
			s.logger.Warn("closing raft store", "error", err)
		}
	}
}

// queryMeta describes a read served at index: whether a leader is known and
// how long ago this server last heard from it.
func (s *Server) queryMeta(index uint64) *structs.QueryMeta {
	m := &structs.QueryMeta{Index: index, KnownLeader: s.raft.LeaderID() != 0}
	if m.KnownLeader && !s.raft.IsLeader() {
		if t := s.raft.LastContact(); !t.IsZero() {
			m.LastContactMs = clock.Since(s.cfg.Clock, t).Milliseconds()
		}
	}
	return m
}

// advertisable turns a bound address into one others can dial: a wildcard
// host (0.0.0.0, ::) becomes this host's first private address.
func advertisable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsUnspecified() {
		return addr
	}
	// A private address first (what Nomad advertises), else any other
	// global one; loopback only when the host has nothing else.
	var public string
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.To4() == nil {
				continue
			}
			if n.IP.IsPrivate() {
				return net.JoinHostPort(n.IP.String(), port)
			}
			if public == "" && n.IP.IsGlobalUnicast() {
				public = n.IP.String()
			}
		}
	}
	if public != "" {
		return net.JoinHostPort(public, port)
	}
	return net.JoinHostPort("127.0.0.1", port)
}
