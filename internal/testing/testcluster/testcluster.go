// Package testcluster starts several real drover servers in one process,
// for tests, examples and benchmarks: real raft over real TCP on distinct
// loopback addresses (127.0.0.x), real bbolt files in temporary
// directories, or, when asked, the in-memory transport and store with
// their fault injection.
package testcluster

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/store"
	"github.com/droverhq/drover/store/inmem"
	"github.com/droverhq/drover/transport"
	inmemnet "github.com/droverhq/drover/transport/inmem"
)

// Options shape a cluster.
type Options struct {
	// Servers is how many servers bootstrap the cluster. Default 3.
	Servers int
	// InMemory runs the servers on an in-memory network (Network) with
	// in-memory stores instead of TCP and bbolt.
	InMemory bool
	// Server adjusts server i's options before it starts (also on restarts).
	Server func(i int, o *drover.ServerOptions)
	// Logger receives every server's logs, each tagged with its name.
	// Default: discarded, unless DROVER_TEST_LOG is set.
	Logger *slog.Logger
}

// Cluster is a set of servers started together.
type Cluster struct {
	tb   testing.TB
	opts Options
	dir  string
	// Network is the in-memory network when Options.InMemory is set.
	Network *inmemnet.Network

	mu      sync.Mutex
	members []*Member
}

// Member is one server of the cluster, running or not.
type Member struct {
	// Index is the member's position, from 0.
	Index int
	// Name is the server's name, "server-<index>".
	Name string
	// Addr is the server's RPC address; it stays the same across restarts.
	Addr string
	// GossipAddr is the server's serf address (empty on an in-memory
	// network, where the servers find each other through StaticPeers).
	GossipAddr string

	c      *Cluster
	adjust func(o *drover.ServerOptions)
	dir    string
	store  store.Store
	tr     transport.Transport
	srv    *drover.Server
}

// New starts a cluster whose servers all expect each other
// (bootstrap_expect = Servers) and know each other's addresses. It returns
// at once; use WaitLeader to wait until the cluster has formed. Every
// server is shut down when the test ends.
func New(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	if opts.Servers <= 0 {
		opts.Servers = 3
	}
	if opts.Logger == nil {
		opts.Logger = harness.Logger(tb)
	}
	c := &Cluster{tb: tb, opts: opts, dir: tb.TempDir()}
	if opts.InMemory {
		c.Network = inmemnet.NewNetwork()
	}
	for i := range opts.Servers {
		c.members = append(c.members, c.newMember(i))
	}
	tb.Cleanup(c.Shutdown)
	for _, m := range c.members {
		if err := m.startFresh(); err != nil {
			tb.Fatalf("start %s: %v", m.Name, err)
		}
	}
	return c
}

func (c *Cluster) newMember(i int) *Member {
	m := &Member{Index: i, Name: "server-" + strconv.Itoa(i), c: c, dir: filepath.Join(c.dir, "server-"+strconv.Itoa(i))}
	if c.Network != nil {
		m.Addr = "server-" + strconv.Itoa(i) + ":4647"
		m.tr = c.Network.Transport()
		m.store = inmem.New()
	} else {
		m.Addr = freeAddr(c.tb, i)
		m.GossipAddr = freeAddr(c.tb, i)
	}
	return m
}

// AddServer starts one more server that joins the running cluster through
// the existing servers' addresses; adjust changes its options.
func (c *Cluster) AddServer(adjust func(o *drover.ServerOptions)) (*Member, error) {
	c.mu.Lock()
	m := c.newMember(len(c.members))
	m.adjust = adjust
	c.members = append(c.members, m)
	c.mu.Unlock()
	return m, m.startFresh()
}

// startFresh starts a member for the first time. A port picked free can be
// taken by another process before the server binds it; a first start may
// then pick new addresses, which nobody knows yet, and try again.
func (m *Member) startFresh() error {
	for attempt := 0; ; attempt++ {
		err := m.Start()
		if err == nil || m.c.Network != nil || attempt == 4 || !strings.Contains(err.Error(), "address already in use") {
			return err
		}
		m.c.tb.Logf("start %s: %v; picking new addresses", m.Name, err)
		if err := os.RemoveAll(m.dir); err != nil { // nothing of a failed first start is kept
			return err
		}
		m.Addr = freeAddr(m.c.tb, m.Index)
		m.GossipAddr = freeAddr(m.c.tb, m.Index)
	}
}

// handedOut holds every address freeAddr has returned in this process, so
// that no two servers, and no server's RPC and gossip addresses, are given
// the same port while one of them is closed between picking and binding.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// freeAddr picks a port free for both TCP and UDP on loopback address
// 127.0.0.(10+i): every server has its own address, as on separate hosts.
func freeAddr(tb testing.TB, i int) string {
	host := fmt.Sprintf("127.0.0.%d", 10+i%200)
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", host+":0")
		if err != nil {
			tb.Fatalf("pick an address: %v", err)
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err == nil {
			pc.Close()
			if handedOut.addrs[addr] {
				continue
			}
			handedOut.addrs[addr] = true
			return addr
		}
	}
	tb.Fatalf("no port free for TCP and UDP on %s", host)
	return ""
}

// Members returns every member, running or not.
func (c *Cluster) Members() []*Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Member(nil), c.members...)
}

// Member returns member i.
func (c *Cluster) Member(i int) *Member { return c.Members()[i] }

func (c *Cluster) addrs() []string {
	var out []string
	for _, m := range c.Members() {
		out = append(out, m.Addr)
	}
	return out
}

func (c *Cluster) gossipAddrs() []string {
	var out []string
	for _, m := range c.Members() {
		out = append(out, m.GossipAddr)
	}
	return out
}

// Running returns the members whose server runs.
func (c *Cluster) Running() []*Member {
	var out []*Member
	for _, m := range c.Members() {
		if m.Server() != nil {
			out = append(out, m)
		}
	}
	return out
}

// Leader returns the running member that leads, or nil.
func (c *Cluster) Leader() *Member {
	for _, m := range c.Running() {
		if m.Server().IsLeader() {
			return m
		}
	}
	return nil
}

// WaitLeader waits until exactly one running member leads and every
// running member of the peer set knows it, and returns it.
func (c *Cluster) WaitLeader(timeout time.Duration) *Member {
	c.tb.Helper()
	return c.waitLeader(timeout, "", nil)
}

// WaitLeaderAmong is WaitLeader ignoring the members in except (servers
// cut off from the others, say).
func (c *Cluster) WaitLeaderAmong(timeout time.Duration, except ...*Member) *Member {
	c.tb.Helper()
	return c.waitLeader(timeout, "", nil, except...)
}

// WaitConfigured is WaitLeader that also waits until every running member
// has applied the leader's peer set (the same servers, voters alike): a
// server that joined follows a leader before it has the entries that make
// it a voter, and until then it never campaigns. Tests that stop the
// leader or cut servers off call it first.
func (c *Cluster) WaitConfigured(timeout time.Duration) *Member {
	c.tb.Helper()
	return c.waitLeader(timeout, " with its peer set applied everywhere", c.configured)
}

// waitLeader polls for a stable leader (ignoring except) for which also
// holds, when set, until timeout; what says what was awaited beyond a
// leader.
func (c *Cluster) waitLeader(timeout time.Duration, what string, also func(*Member) bool, except ...*Member) *Member {
	c.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if l := c.stableLeader(except...); l != nil && (also == nil || also(l)) {
			return l
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("no leader%s within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// configured reports whether every running member's own view of the peer
// set is the leader's.
func (c *Cluster) configured(leader *Member) bool {
	view := func(m *Member) map[uint64]bool {
		peers, err := m.Server().RaftConfiguration(drover.AllowStale(context.Background()))
		if err != nil {
			return nil
		}
		out := map[uint64]bool{}
		for _, p := range peers {
			out[p.ID] = p.Voter
		}
		return out
	}
	want := view(leader)
	if len(want) == 0 {
		return false
	}
	for _, m := range c.Running() {
		if !maps.Equal(view(m), want) {
			return false
		}
	}
	return true
}

func (c *Cluster) stableLeader(except ...*Member) *Member {
	var leader *Member
	var running []*Member
	for _, m := range c.Running() {
		if !slices.Contains(except, m) {
			running = append(running, m)
		}
	}
	for _, m := range running {
		if m.Server().IsLeader() {
			if leader != nil {
				return nil
			}
			leader = m
		}
	}
	if leader == nil {
		return nil
	}
	for _, m := range running {
		if m.Server().LeaderAddr() != leader.Addr {
			return nil
		}
	}
	return leader
}

// Shutdown stops every running server.
func (c *Cluster) Shutdown() {
	var wg sync.WaitGroup
	for _, m := range c.Running() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Stop()
		}()
	}
	wg.Wait()
}

// Server returns the member's running server, or nil.
func (m *Member) Server() *drover.Server {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	return m.srv
}

// Start starts the member's server on its address and data (a restart
// keeps both).
func (m *Member) Start() error {
	o := drover.ServerOptions{
		Name:            m.Name,
		DataDir:         m.dir,
		BindAddr:        m.Addr,
		SerfBindAddr:    m.GossipAddr,
		BootstrapExpect: m.c.opts.Servers,
		ServerJoin:      drover.ServerJoin{RetryJoin: m.c.gossipAddrs(), RetryInterval: 200 * time.Millisecond},
		Logger:          m.c.opts.Logger.With("server", m.Name),
		NumSchedulers:   1,
	}
	if m.store != nil {
		o.Store, o.Transport, o.DataDir = m.store, m.tr, ""
		o.DisableGossip, o.SerfBindAddr, o.ServerJoin.RetryJoin = true, "", nil
		o.StaticPeers = m.c.addrs()
	}
	if m.c.opts.Server != nil {
		m.c.opts.Server(m.Index, &o)
	}
	if m.adjust != nil {
		m.adjust(&o)
	}
	srv, err := drover.NewServer(o)
	if err != nil {
		return err
	}
	m.c.mu.Lock()
	m.srv = srv
	m.c.mu.Unlock()
	return nil
}

// Stop shuts the member's server down at once, without leaving the
// cluster, as a crash would: its peers see it vanish. Its data stays for
// a restart.
func (m *Member) Stop() {
	srv := m.Server()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace: in-flight calls are cut off
	_ = srv.Shutdown(ctx)
	m.c.mu.Lock()
	m.srv = nil
	m.c.mu.Unlock()
}

// Restart stops the member's server and starts it again on the same data.
func (m *Member) Restart() error {
	m.Stop()
	return m.Start()
}

// Isolate cuts the member off from every other host of the in-memory
// network; Rejoin undoes it.
func (m *Member) Isolate() { m.c.Network.Isolate(m.Addr) }

// Rejoin undoes Isolate.
func (m *Member) Rejoin() { m.c.Network.Rejoin(m.Addr) }
