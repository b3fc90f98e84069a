// Package server is the server agent: a raft node with its FSM and state
// store, gossip membership, the RPC endpoints with forwarding to the
// leader and to other regions, and the leader's services (evaluation
// broker, plan applier, scheduler workers, heartbeat timers, drainer, GC).
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

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/droverhq/drover/gc"
	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/server/events"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/store"
	boltstore "github.com/droverhq/drover/store/bolt"
	"github.com/droverhq/drover/structs"
	"github.com/droverhq/drover/transport"
	"github.com/droverhq/drover/transport/tcp"
)

// Config is what a server needs; the drover package builds it from
// ServerOptions with defaults applied and validated.
type Config struct {
	Name       string
	Region     string
	Datacenter string
	DataDir    string
	Store      store.Store
	BindAddr   string
	// AdvertiseAddr is the RPC address other servers and clients are told;
	// default the address the listener is bound to.
	AdvertiseAddr string
	Transport     transport.Transport

	// BootstrapExpect is how many voting servers of the region must know
	// each other before they bootstrap the cluster together.
	BootstrapExpect int
	// StaticPeers lists the RPC addresses of other servers to bootstrap or
	// join with, for finding them without gossip.
	StaticPeers []string

	// DisableGossip turns serf off: the server then finds others only
	// through StaticPeers and cannot federate.
	DisableGossip bool
	// SerfBindAddr is the gossip listen address (host:port; port 0 picks one).
	SerfBindAddr string
	// SerfAdvertiseAddr is the gossip address others are told; default the bound one.
	SerfAdvertiseAddr string
	// RetryJoin lists gossip addresses to join at start, tried every
	// RetryInterval; RetryMax > 0 bounds the attempts, after which the
	// server stops with an error.
	RetryJoin     []string
	RetryMax      int
	RetryInterval time.Duration
	// Encrypt is the base64 gossip key used on first start.
	Encrypt string
	// RejoinAfterLeave lets a server that left rejoin when restarted.
	RejoinAfterLeave bool
	// DeadServerThreshold is how long a server must have been failed in the
	// gossip pool before the leader removes it from the raft peer set.
	DeadServerThreshold time.Duration
	// AuthoritativeRegion is the region holding global configuration.
	AuthoritativeRegion string
	// NonVoting makes the server a raft learner: it replicates and serves
	// stale reads but never votes, and never bootstraps a cluster.
	NonVoting bool

	NumSchedulers     int
	EnabledSchedulers []string
	// Scheduling holds the scheduler configuration's default, the host's
	// custom schedulers, job versions kept and the plan rejection tracker.
	Scheduling SchedulingConfig

	Heartbeat heartbeat.Config
	// FailoverTTLPinned means the operator chose Heartbeat.FailoverTTL and
	// it is used even when unsafe for the cluster size.
	FailoverTTLPinned bool

	RaftMultiplier         int
	RaftSnapshotThreshold  uint64
	RaftSnapshotInterval   time.Duration
	RaftTrailingLogs       uint64
	RaftBoltNoFreelistSync bool
	// LeaderWait bounds how long a call waits for a leader before failing
	// with ErrNoLeader. Default five election timeouts.
	LeaderWait time.Duration

	JobDefaultPriority int
	JobMaxPriority     int
	// JobMaxCount bounds the sum of a job's group counts at registration
	// (job_max_count): 0 means structs.DefaultJobMaxCount, a negative
	// value no limit.
	JobMaxCount int

	// GC holds the garbage-collection thresholds; JobGCInterval is how often
	// jobs are collected (evaluations and nodes use fixed intervals).
	GC            gc.Config
	JobGCInterval time.Duration

	// ACL configures access control lists.
	ACL ACLConfig
	// TLS, when set, is the mutual TLS material every RPC connection is
	// authenticated with; Transport must have been built with it (a
	// tcp.Transport whose Material it is). With VerifyServerHostname, a
	// peer's certificate must name its role and region: servers take part
	// in raft and forwarding only with server.<region>.nomad, and node calls
	// need client.<region>.nomad or the server name.
	TLS                  *tcp.Material
	VerifyServerHostname bool
	// RPCHandshakeTimeout bounds a peer's TLS handshake. Default 5s.
	RPCHandshakeTimeout time.Duration

	// DisableEventBroker turns the event stream off; EventBufferSize is
	// how many applied entries' events are kept for subscribers.
	DisableEventBroker bool
	EventBufferSize    int

	Logger     *slog.Logger
	Registerer prometheus.Registerer

	// Clock is the time source recorded in raft entries and used by GC.
	// Default time.Now; tests inject their own.
	Clock func() time.Time
}

// electionTimeout is the raft election timeout at the configured multiplier.
func (c *Config) electionTimeout() time.Duration {
	return baseTick * time.Duration(max(c.RaftMultiplier, 1)) * electionTicks
}

func (c *Config) leaderWait() time.Duration {
	if c.LeaderWait > 0 {
		return c.LeaderWait
	}
	return 5 * c.electionTimeout()
}

// retryInterval is how often a call waiting for a leader looks again.
func (c *Config) retryInterval() time.Duration {
	return c.electionTimeout() / 10
}

// raft timing at raft_multiplier 1: a 100 ms tick, election after 10 ticks.
const (
	baseTick       = 100 * time.Millisecond
	electionTicks  = 10
	heartbeatTicks = 1
	proposeTimeout = 30 * time.Second
	// maxBlockingQuery caps how long a blocking read waits.
	maxBlockingQuery = 5 * time.Minute
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
	raft      *raftNode
	gossip    *gossip
	pool      *connPool
	broker    *evalBroker
	blocked   *blockedEvals
	ttl       *ttlTracker
	applier   *planApplier
	metrics   *metrics
	events    *events.Broker
	acls      *aclCache
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
	expired      chan string
	leaderCancel context.CancelFunc
	leaderWG     sync.WaitGroup
	bgWG         sync.WaitGroup

	readyOnce    sync.Once
	ready        chan struct{}
	done         chan struct{}
	shutdownOnce sync.Once
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
// when the server has a leader.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Transport == nil {
		cfg.Transport = tcp.Transport{}
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	cfg.BootstrapExpect = max(cfg.BootstrapExpect, 1)
	s := &Server{
		cfg:          cfg,
		logger:       cfg.Logger.With("agent", "server", "name", cfg.Name),
		state:        state.NewStore(),
		leaderEvents: make(chan bool, 16),
		expired:      make(chan string, 1024),
		ready:        make(chan struct{}),
		done:         make(chan struct{}),
		gcBatchSize:  gcBatchSize,
		restoreBatch: restoreEntryBytes,
		acls:         newACLCache(),
		nodeConns:    newNodeConns(),
	}
	s.stopCtx, s.stopFunc = context.WithCancel(context.Background())
	s.events = newEventBroker(cfg)
	m, err := newMetrics(cfg.Registerer, s)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	started := false
	defer func() {
		if !started {
			// A server that did not start leaves the host's registry as it was.
			m.unregister()
		}
	}()
	if err := s.openStore(); err != nil {
		return nil, err
	}
	if err := s.loadMeta(); err != nil {
		s.closeStore()
		return nil, err
	}
	id, err := loadRaftID(s.meta, s.store)
	if err != nil {
		s.closeStore()
		return nil, err
	}
	var snaps snapshotStore = memSnapshots{}
	if cfg.DataDir != "" {
		if snaps, err = newDirSnapshots(filepath.Join(cfg.DataDir, "server", "snapshots")); err != nil {
			s.closeStore()
			return nil, err
		}
	}
	s.broker = newEvalBroker(3, time.Second, s.evalFailed)
	s.broker.now = cfg.Clock
	s.blocked = newBlockedEvals()
	s.ttl = newTTLTracker(cfg.Heartbeat, cfg.FailoverTTLPinned, s.logger, s.nodeExpired)

	ln, err := cfg.Transport.Listen(cfg.BindAddr)
	if err != nil {
		s.closeStore()
		return nil, fmt.Errorf("listen on %s: %w", cfg.BindAddr, err)
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

	mult := max(cfg.RaftMultiplier, 1)
	s.raft = newRaftNode(raftConfig{
		id:             id,
		self:           s.self,
		snapThreshold:  cfg.RaftSnapshotThreshold,
		snapInterval:   cfg.RaftSnapshotInterval,
		trailingLogs:   cfg.RaftTrailingLogs,
		proposeTimeout: proposeTimeout,
		leaderWait:     cfg.leaderWait(),
		now:            cfg.Clock,
		logger:         s.logger,
		onCommit:       func(d time.Duration) { s.metrics.commitTime.Observe(d.Seconds()) },
		onLeaderID:     func(uint64) { s.metrics.leaderChanges.Inc() },
		onLeaderChange: func(l bool) {
			select {
			case s.leaderEvents <- l:
			case <-s.stopCtx.Done():
			}
		},
		onCaughtUp:      func() { s.readyOnce.Do(func() { close(s.ready) }) },
		metrics:         s.metrics,
		baseTick:        baseTick * time.Duration(mult),
		electionTicks:   electionTicks,
		heartbeatTicks:  heartbeatTicks,
		maxSizePerMsg:   1 << 20,
		maxInflightMsgs: 256,
	}, s.store, s.fsm, snaps, s.pool)
	s.raft.transport.sent = func() { s.metrics.snapshots.WithLabelValues("sent").Inc() }
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

	if !cfg.DisableGossip {
		if s.cfg.SerfBindAddr == "" {
			host, _, _ := net.SplitHostPort(ln.Addr().String())
			s.cfg.SerfBindAddr = net.JoinHostPort(host, "0")
		}
		if s.gossip, err = s.startGossip(); err != nil {
			ln.Close()
			s.pool.close()
			s.closeStore()
			return nil, err
		}
	}
	has, err := hasState(s.store)
	if err == nil {
		switch {
		case has:
			err = s.startRaft(startRestart, nil)
		case s.left:
			// A server that left stays out: no raft until it is told to rejoin.
		case cfg.BootstrapExpect <= 1 && len(cfg.StaticPeers) == 0 && len(cfg.RetryJoin) == 0 && !cfg.NonVoting:
			err = s.startRaft(startBootstrap, []*structs.RaftPeer{s.self})
		}
	}
	if err != nil {
		ln.Close()
		if s.gossip != nil {
			s.gossip.shutdown()
		}
		s.pool.close()
		s.closeStore()
		return nil, err
	}
	s.bgWG.Add(3)
	go func() {
		defer s.bgWG.Done()
		_ = s.grpc.Serve(ln)
	}()
	go func() {
		defer s.bgWG.Done()
		s.leaderLoop()
	}()
	go func() {
		defer s.bgWG.Done()
		select {
		case <-s.raft.donec:
			if err := s.raft.Err(); err != nil {
				s.setErr(err)
				go s.Shutdown(context.Background())
			}
		case <-s.stopCtx.Done():
		}
	}()
	if !s.raft.started.Load() && !s.left {
		s.bgWG.Add(1)
		go func() {
			defer s.bgWG.Done()
			s.joinOrBootstrap()
		}()
	}
	if s.gossip != nil && len(cfg.RetryJoin) > 0 && !s.left {
		s.bgWG.Add(1)
		go func() {
			defer s.bgWG.Done()
			s.retryJoin()
		}()
	}
	if s.left {
		s.logger.Warn("this server left its cluster and stays out of it; set RejoinAfterLeave to rejoin as a new server on start")
	}
	started = true
	s.logger.Info("server started", "addr", ln.Addr().String(), "advertise", advertise, "region", cfg.Region,
		"datacenter", cfg.Datacenter, "bootstrap_expect", cfg.BootstrapExpect, "non_voting", cfg.NonVoting)
	return s, nil
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
	bs, err := boltstore.Open(filepath.Join(dir, "raft.db"), boltstore.Options{NoFreelistSync: s.cfg.RaftBoltNoFreelistSync})
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

// startRaft starts the raft node in mode and its loop.
func (s *Server) startRaft(mode startMode, bootstrap []*structs.RaftPeer) error {
	if err := s.raft.start(mode, bootstrap); err != nil {
		return err
	}
	if mode == startBootstrap {
		s.logger.Info("bootstrapping the cluster", "servers", len(bootstrap))
	}
	return s.raft.launch()
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
func (s *Server) IsLeader() bool { return s.raft.isLeader() }

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

// Shutdown stops every goroutine the server started and closes its store.
// It is idempotent; ctx bounds the wait for in-flight RPCs to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.stopFunc()
		stopped := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			s.grpc.Stop()
			<-stopped
		}
		s.raft.stop()
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
	m := &structs.QueryMeta{Index: index, KnownLeader: s.raft.leaderID.Load() != 0}
	if m.KnownLeader && !s.raft.isLeader() {
		if t := s.raft.lastContact.Load(); t != 0 {
			m.LastContactMs = time.Since(time.Unix(0, t)).Milliseconds()
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
