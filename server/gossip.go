package server

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/structs"
)

// Servers find each other through serf. As in Nomad, one gossip pool on
// the serf port carries every server of every federated region: the
// servers of the local region are the region's clustering pool (raft
// membership follows them), the others are the federation (calls that
// name their region are forwarded to them).

// DefaultSerfPort is the gossip port when an address names none.
const DefaultSerfPort = 4648

// Serf tags a server publishes. A member whose tags do not parse is
// ignored.
const (
	tagRole        = "role"
	tagRegion      = "region"
	tagDatacenter  = "dc"
	tagRaftID      = "id"
	tagRPCAddr     = "rpc_addr"
	tagExpect      = "expect"
	tagNonVoter    = "nonvoter"
	tagBuild       = "build"
	tagAuthRegion  = "authoritative_region"
	roleServer     = "drover-server"
	buildVersion   = "0.1.0-dev"
	serfEventQueue = 2048
)

// Member is one server of the gossip pool.
type Member struct {
	// Name is the member's gossip name, "<server name>.<region>".
	Name string
	// Addr is the member's gossip address, host:port.
	Addr string
	// Status is "alive", "leaving", "left", "failed" or "none".
	Status string
	// Tags are what the server publishes: role, region, dc, raft id,
	// RPC address, bootstrap expectation, non-voter, build version.
	Tags map[string]string
}

// serverMember is a member of the pool parsed as a drover server.
type serverMember struct {
	name       string
	status     serf.MemberStatus
	region     string
	datacenter string
	id         uint64
	rpcAddr    string
	expect     int
	nonVoter   bool
}

func parseMember(m serf.Member) (serverMember, bool) {
	t := m.Tags
	if t[tagRole] != roleServer {
		return serverMember{}, false
	}
	id, err := strconv.ParseUint(t[tagRaftID], 16, 64)
	if err != nil || id == 0 || t[tagRegion] == "" || t[tagRPCAddr] == "" {
		return serverMember{}, false
	}
	if _, _, err := net.SplitHostPort(t[tagRPCAddr]); err != nil {
		return serverMember{}, false
	}
	expect, _ := strconv.Atoi(t[tagExpect])
	return serverMember{
		name: m.Name, status: m.Status, region: t[tagRegion], datacenter: t[tagDatacenter], id: id,
		rpcAddr: t[tagRPCAddr], expect: expect, nonVoter: t[tagNonVoter] == "1",
	}, true
}

// gossip owns the server's serf instance and the goroutine that drains its
// events.
type gossip struct {
	s      *Server
	serf   *serf.Serf
	events chan serf.Event
	done   chan struct{}
	// changed is signalled (without blocking) when membership changes, so
	// the leader reconciles raft membership with it.
	changed chan struct{}

	mu sync.Mutex
	// failedSince is when a member was first seen failed.
	failedSince map[string]time.Time
}

// serfLogger routes serf's and memberlist's logs to the host's logger, at
// the level their "[ERR]", "[WARN]", "[INFO]" or "[DEBUG]" prefix names.
func serfLogger(l *slog.Logger) *log.Logger {
	return log.New(levelWriter{l.With("component", "serf")}, "", 0)
}

type levelWriter struct{ l *slog.Logger }

func (w levelWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for prefix, lv := range map[string]slog.Level{
		"[ERR]": slog.LevelError, "[ERROR]": slog.LevelError, "[WARN]": slog.LevelWarn,
		"[INFO]": slog.LevelInfo, "[DEBUG]": slog.LevelDebug, "[TRACE]": slog.LevelDebug,
	} {
		if rest, ok := strings.CutPrefix(msg, prefix); ok {
			level, msg = lv, strings.TrimSpace(rest)
			break
		}
	}
	if strings.Contains(msg, "Shutdown without a Leave") {
		// Every Shutdown that is not a Leave says so; that is the usual case.
		level = slog.LevelDebug
	}
	w.l.Log(context.Background(), level, msg)
	return len(p), nil
}

// startGossip creates the serf instance and starts draining its events.
func (s *Server) startGossip() (*gossip, error) {
	cfg := s.cfg
	bindHost, bindPort, err := splitHostPortDefault(cfg.SerfBindAddr, DefaultSerfPort)
	if err != nil {
		return nil, fmt.Errorf("serf bind address %q: %w", cfg.SerfBindAddr, err)
	}
	g := &gossip{
		s: s, events: make(chan serf.Event, serfEventQueue), done: make(chan struct{}),
		changed: make(chan struct{}, 1), failedSince: map[string]time.Time{},
	}
	sc := serf.DefaultConfig()
	sc.NodeName = cfg.Name + "." + cfg.Region
	sc.Tags = map[string]string{
		tagRole: roleServer, tagRegion: cfg.Region, tagDatacenter: cfg.Datacenter,
		tagRaftID: fmt.Sprintf("%x", s.self.Id), tagRPCAddr: s.self.Addr,
		tagExpect: strconv.Itoa(cfg.BootstrapExpect), tagBuild: buildVersion,
		tagAuthRegion: cfg.AuthoritativeRegion,
	}
	if cfg.NonVoting {
		sc.Tags[tagNonVoter] = "1"
	}
	sc.EventCh = g.events
	sc.Logger = serfLogger(s.logger)
	sc.RejoinAfterLeave = cfg.RejoinAfterLeave
	sc.ReconnectTimeout = 24 * time.Hour
	sc.TombstoneTimeout = 24 * time.Hour
	sc.LeavePropagateDelay = time.Second
	mc := memberlist.DefaultLANConfig()
	mc.Name = sc.NodeName
	// Gossip spreads a change to a handful of peers only; a full state
	// exchange with one random peer every few seconds makes every server
	// converge soon even when it missed those messages. The pool holds
	// servers only, so the exchanges stay small.
	mc.PushPullInterval = 5 * time.Second
	mc.BindAddr, mc.BindPort = bindHost, bindPort
	if cfg.SerfAdvertiseAddr != "" {
		host, port, err := splitHostPortDefault(cfg.SerfAdvertiseAddr, bindPort)
		if err != nil {
			return nil, fmt.Errorf("serf advertise address %q: %w", cfg.SerfAdvertiseAddr, err)
		}
		mc.AdvertiseAddr, mc.AdvertisePort = host, port
	}
	mc.Logger = sc.Logger
	sc.MemberlistConfig = mc
	if cfg.DataDir != "" {
		dir := filepath.Join(cfg.DataDir, "server", "serf")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create serf dir: %w", err)
		}
		sc.SnapshotPath = filepath.Join(dir, "local.snapshot")
		sc.KeyringFile = filepath.Join(dir, "keyring")
	}
	if err := s.setupKeyring(sc); err != nil {
		return nil, err
	}
	sf, err := serf.Create(sc)
	if err != nil {
		return nil, fmt.Errorf("start serf on %s: %w", cfg.SerfBindAddr, err)
	}
	g.serf = sf
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		g.drain()
	}()
	s.logger.Info("serf started", "name", sc.NodeName, "addr", g.addr(), "encrypted", sf.EncryptionEnabled())
	return g, nil
}

// addr is the gossip address other servers join.
func (g *gossip) addr() string {
	m := g.serf.LocalMember()
	return net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
}

// drain reads serf's events as fast as they come: serf blocks when its
// event channel is full.
func (g *gossip) drain() {
	defer close(g.done)
	for {
		select {
		case <-g.s.stopCtx.Done():
			return
		case <-g.serf.ShutdownCh():
			return
		case ev := <-g.events:
			me, ok := ev.(serf.MemberEvent)
			if !ok {
				continue
			}
			g.s.logger.Debug("serf member event", "type", me.EventType().String(), "members", len(me.Members))
			g.mu.Lock()
			for _, m := range me.Members {
				if m.Status == serf.StatusFailed {
					if _, ok := g.failedSince[m.Name]; !ok {
						g.failedSince[m.Name] = g.s.cfg.Clock.Now()
					}
				} else {
					delete(g.failedSince, m.Name)
				}
			}
			g.mu.Unlock()
			g.countMembers()
			select {
			case g.changed <- struct{}{}:
			default:
			}
		}
	}
}

// countMembers updates the gossip metrics.
func (g *gossip) countMembers() {
	counts := map[string]float64{"alive": 0, "leaving": 0, "left": 0, "failed": 0}
	for _, m := range g.servers("") {
		counts[m.status.String()]++
	}
	for status, n := range counts {
		g.s.metrics.gossipMembers.WithLabelValues(status).Set(n)
	}
}

// servers returns the parsed server members, optionally of one region.
func (g *gossip) servers(region string) []serverMember {
	var out []serverMember
	for _, m := range g.serf.Members() {
		sm, ok := parseMember(m)
		if ok && (region == "" || sm.region == region) {
			out = append(out, sm)
		}
	}
	return out
}

// failedFor is how long the member has been failed, or 0.
func (g *gossip) failedFor(name string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.failedSince[name]; ok {
		return clock.Since(g.s.cfg.Clock, t)
	}
	return 0
}

// shutdown leaves nothing running; it does not announce a leave.
func (g *gossip) shutdown() {
	if err := g.serf.Shutdown(); err != nil {
		g.s.logger.Warn("serf shutdown", "error", err)
	}
	<-g.done
}

// splitHostPortDefault splits host:port, or a bare host with the default port.
func splitHostPortDefault(addr string, defPort int) (string, int, error) {
	if addr == "" {
		return "", 0, errors.New("empty address")
	}
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		// A bare host (or IPv6 literal without a port).
		return addr, defPort, nil
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, port, nil
}

// withDefaultPort adds the serf port to an address that names none.
func withDefaultPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(addr, strconv.Itoa(DefaultSerfPort))
}

// Join joins the gossip pool through the servers at addrs (host:port, or
// a host name on the default serf port) and returns how many it reached.
// The servers of this region found that way become raft peers once the
// leader sees them; servers of other regions federate.
func (s *Server) Join(ctx context.Context, addrs ...string) (int, error) {
	if err := s.allow(ctx, "agent write", (*acl.ACL).AllowAgentWrite); err != nil {
		return 0, err
	}
	if s.gossip == nil {
		return 0, fmt.Errorf("%w: gossip is disabled on this server", ErrBadRequest)
	}
	full := make([]string, 0, len(addrs))
	for _, a := range addrs {
		full = append(full, withDefaultPort(a))
	}
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		n, err := s.gossip.serf.Join(full, true)
		ch <- result{n, err}
	}()
	select {
	case r := <-ch:
		if r.n == 0 && r.err != nil {
			return 0, fmt.Errorf("join %v: %w", addrs, r.err)
		}
		return r.n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Members lists the servers of the gossip pool, of every region.
func (s *Server) Members() []Member {
	if s.gossip == nil {
		return []Member{{
			Name: s.cfg.Name + "." + s.cfg.Region, Addr: s.self.Addr, Status: "alive",
			Tags: map[string]string{tagRole: roleServer, tagRegion: s.cfg.Region, tagDatacenter: s.cfg.Datacenter},
		}}
	}
	var out []Member
	for _, m := range s.gossip.serf.Members() {
		if _, ok := parseMember(m); !ok {
			continue
		}
		out = append(out, Member{
			Name: m.Name, Addr: net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
			Status: m.Status.String(), Tags: m.Tags,
		})
	}
	slices.SortFunc(out, func(a, b Member) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Regions lists the regions of the federation: this server's and those of
// the servers it gossips with.
func (s *Server) Regions() []string {
	regions := []string{s.cfg.Region}
	if s.gossip != nil {
		for _, m := range s.gossip.servers("") {
			if m.status == serf.StatusAlive && !slices.Contains(regions, m.region) {
				regions = append(regions, m.region)
			}
		}
	}
	slices.Sort(regions)
	return regions
}

// GossipAddr is the serf address other servers join, or "" when gossip is off.
func (s *Server) GossipAddr() string {
	if s.gossip == nil {
		return ""
	}
	return s.gossip.addr()
}

// ForceLeave marks a failed server of the gossip pool as left (the `nomad
// server force-leave` equivalent); the leader then removes it from the
// raft peer set. name is the member name ("<server>.<region>") or the
// server name.
func (s *Server) ForceLeave(ctx context.Context, name string) error {
	if err := s.allow(ctx, "agent write", (*acl.ACL).AllowAgentWrite); err != nil {
		return err
	}
	if s.gossip == nil {
		return s.RemoveServer(ctx, name)
	}
	member := name
	found := false
	for _, m := range s.gossip.servers("") {
		if m.name == name || m.name == name+"."+m.region {
			member, found = m.name, true
			break
		}
	}
	if !found {
		return fmt.Errorf("%w: no member %q in the gossip pool", ErrNotFound, name)
	}
	if err := s.gossip.serf.RemoveFailedNode(member); err != nil {
		return fmt.Errorf("force-leave %s: %w", member, err)
	}
	return nil
}

// memberInfo turns a serf member into the RaftPeer it describes.
func (m serverMember) peer() *structs.RaftPeer {
	short := m.name
	if i := len(m.name) - len(m.region) - 1; i > 0 && m.name[i:] == "."+m.region {
		short = m.name[:i]
	}
	return &structs.RaftPeer{Id: m.id, Name: short, Addr: m.rpcAddr, Region: m.region, Datacenter: m.datacenter, Voter: !m.nonVoter}
}

// retryJoin joins the Join.RetryJoin servers at start, every RetryInterval
// until one answers. With RetryMax > 0 it gives up after that many
// attempts and stops the server with an error that says so.
func (s *Server) retryJoin() {
	own := map[string]bool{s.gossip.addr(): true, withDefaultPort(s.cfg.SerfBindAddr): true}
	var addrs []string
	for _, a := range s.cfg.Join.RetryJoin {
		if !own[withDefaultPort(a)] {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return
	}
	interval := s.cfg.Join.RetryInterval
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(s.stopCtx, 10*time.Second)
		n, err := s.Join(ctx, addrs...)
		cancel()
		if n > 0 {
			s.logger.Info("joined the gossip pool", "servers", n, "attempt", attempt)
			return
		}
		if s.stopCtx.Err() != nil {
			return
		}
		if s.cfg.Join.RetryMax > 0 && attempt >= s.cfg.Join.RetryMax {
			s.failStart(fmt.Errorf("server_join: joined none of %v after %d attempts: %w", addrs, attempt, err))
			return
		}
		s.logger.Warn("join failed, retrying", "addrs", addrs, "attempt", attempt, "retry_in", interval, "error", err)
		if !clock.Sleep(s.stopCtx, s.cfg.Clock, interval) {
			return
		}
	}
}
