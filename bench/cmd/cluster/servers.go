package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverhq/drover"
)

// member is one real server of the benchmark cluster.
type member struct {
	name   string
	addr   string
	gossip string
	reg    *prometheus.Registry
	srv    *drover.Server
	killed bool
}

// cluster is n real servers in this process: raft over TCP on distinct
// loopback addresses, bbolt files under dir, serf gossip to bootstrap.
type cluster struct {
	members []*member
}

// startCluster starts n servers that bootstrap together. Each server's
// goroutines carry the pprof label server=<name>, so that a CPU profile
// tells the servers' work apart from the simulated clients'. With
// leaderOnly, only server-0 runs scheduler workers (see lead).
func startCluster(ctx context.Context, n int, dir string, schedulers int, leaderOnly bool, heartbeatRate float64, logger *slog.Logger) (*cluster, error) {
	c := &cluster{}
	for i := range n {
		addr, err := freeAddr(i)
		if err != nil {
			return nil, err
		}
		gossip, err := freeAddr(i)
		if err != nil {
			return nil, err
		}
		c.members = append(c.members, &member{name: "server-" + strconv.Itoa(i), addr: addr, gossip: gossip, reg: prometheus.NewRegistry()})
	}
	var join []string
	for _, m := range c.members {
		join = append(join, m.gossip)
	}
	for i, m := range c.members {
		o := drover.ServerOptions{
			Name:            m.name,
			DataDir:         filepath.Join(dir, m.name),
			BindAddr:        m.addr,
			SerfBindAddr:    m.gossip,
			BootstrapExpect: n,
			ServerJoin:      drover.ServerJoin{RetryJoin: join, RetryInterval: 200 * time.Millisecond},
			Logger:          logger.With("server", m.name),
			Registerer:      m.reg,
			NumSchedulers:   schedulers,
			JobMaxCount:     -1,
			Heartbeat:       drover.HeartbeatConfig{MaxPerSecond: heartbeatRate},
		}
		if leaderOnly && i > 0 {
			o.NumSchedulers = drover.NoSchedulers
		}
		var err error
		pprof.Do(ctx, pprof.Labels("server", m.name), func(context.Context) {
			m.srv, err = drover.NewServer(o)
		})
		if err != nil {
			c.shutdown()
			return nil, fmt.Errorf("start %s: %w", m.name, err)
		}
	}
	return c, nil
}

// lead makes m the leader (the cluster has one already) and waits until
// every running server knows it.
func (c *cluster) lead(ctx context.Context, m *member) error {
	for {
		l, err := c.waitLeader(ctx)
		if err != nil {
			return err
		}
		if l == m {
			return nil
		}
		if err := l.srv.TransferLeadership(ctx, "", m.addr); err != nil && ctx.Err() != nil {
			return fmt.Errorf("make %s the leader: %w", m.name, err)
		}
	}
}

// waitLeader waits until one running server leads and every running one knows it.
func (c *cluster) waitLeader(ctx context.Context) (*member, error) {
	for {
		if l := c.stableLeader(); l != nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no leader: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *cluster) stableLeader() *member {
	var leader *member
	for _, m := range c.running() {
		if m.srv.IsLeader() {
			if leader != nil {
				return nil
			}
			leader = m
		}
	}
	if leader == nil {
		return nil
	}
	for _, m := range c.running() {
		if m.srv.LeaderAddr() != leader.addr {
			return nil
		}
	}
	return leader
}

func (c *cluster) running() []*member {
	var out []*member
	for _, m := range c.members {
		if !m.killed && m.srv != nil {
			out = append(out, m)
		}
	}
	return out
}

// leader returns the running server that believes it leads, or nil.
func (c *cluster) leader() *member {
	for _, m := range c.running() {
		if m.srv.IsLeader() {
			return m
		}
	}
	return nil
}

// kill shuts m down without leaving the cluster, as a host stopping its
// server does (Shutdown with up to 10 s for in-flight calls), and returns
// how long Shutdown took: its peers see it vanish.
func (c *cluster) kill(m *member) time.Duration {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = m.srv.Shutdown(ctx)
	m.killed = true
	return time.Since(start)
}

func (c *cluster) shutdown() {
	for _, m := range c.running() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = m.srv.Shutdown(ctx)
		cancel()
		m.killed = true
	}
}

// freeAddr picks a port free for both TCP and UDP on 127.0.0.(10+i), so
// that every server has an address of its own, as on separate hosts.
func freeAddr(i int) (string, error) {
	host := fmt.Sprintf("127.0.0.%d", 10+i%200)
	for range 100 {
		ln, err := net.Listen("tcp", host+":0")
		if err != nil {
			return "", fmt.Errorf("pick an address: %w", err)
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		_ = ln.Close()
		if err == nil {
			_ = pc.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("no port free for TCP and UDP on %s", host)
}

// stderrLogger writes level and above to stderr.
func stderrLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
