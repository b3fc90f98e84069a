// Package client is the client agent: it fingerprints its host, registers
// with the servers, heartbeats on the TTL they return, watches the
// allocations placed on it and runs their tasks through drivers.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/fingerprint"
	"github.com/droverhq/drover/structs"
	"github.com/droverhq/drover/transport"
	"github.com/droverhq/drover/transport/tcp"
)

// Config is what a client needs; the drover package builds it from
// ClientOptions with defaults applied and validated.
type Config struct {
	Name           string
	Region         string
	Datacenter     string
	NodeClass      string
	Meta           map[string]string
	DataDir        string
	Servers        []string
	Transport      transport.Transport
	Drivers        []driver.Driver
	Fingerprinters []fingerprint.Fingerprinter
	Logger         *slog.Logger
	// Registerer receives the client's metrics; nil registers none.
	Registerer prometheus.Registerer
	// UpdateInterval is how often allocation status changes are batched to
	// the servers. Default 200ms.
	UpdateInterval time.Duration
}

// Client is a running client agent.
type Client struct {
	cfg     Config
	logger  *slog.Logger
	id      identity
	node    *structs.Node
	drivers map[string]driver.Driver
	servers *serverConns
	allocs  *allocManager
	updates *allocUpdater
	metrics *metrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	readyOnce    sync.Once
	ready        chan struct{}
	done         chan struct{}
	shutdownOnce sync.Once
}

// New fingerprints the host and starts the client; registration with the
// servers happens in the background (Ready tells when it succeeded).
func New(cfg Config) (*Client, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Transport == nil {
		cfg.Transport = tcp.Transport{}
	}
	if cfg.UpdateInterval <= 0 {
		cfg.UpdateInterval = 200 * time.Millisecond
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "alloc"), 0o755); err != nil {
		return nil, fmt.Errorf("create client data dir: %w", err)
	}
	id, err := loadIdentity(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:     cfg,
		logger:  cfg.Logger.With("agent", "client", "node_id", id.NodeID),
		id:      id,
		drivers: map[string]driver.Driver{},
		servers: newServerConns(cfg.Transport, cfg.Servers),
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
	}
	for _, d := range cfg.Drivers {
		c.drivers[d.Name()] = d
	}
	c.allocs = newAllocManager(c)
	if c.metrics, err = newMetrics(cfg.Registerer, c.allocs.running); err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	node, err := c.fingerprintNode(c.ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.node = node
	c.updates = newAllocUpdater(c, cfg.UpdateInterval)

	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.updates.run(c.ctx)
	}()
	go func() {
		defer c.wg.Done()
		c.run(c.ctx)
	}()
	c.logger.Info("client started", "name", node.Name, "drivers", strings.Join(driverNames(node), ","))
	return c, nil
}

func driverNames(n *structs.Node) []string {
	var out []string
	for name, d := range n.Drivers {
		if d.Detected {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// fingerprintNode builds the node the client registers as.
func (c *Client) fingerprintNode(ctx context.Context) (*structs.Node, error) {
	fps := append(fingerprint.Builtins(), fingerprint.Disk(c.cfg.DataDir))
	fps = append(fps, c.cfg.Fingerprinters...)
	attrs, res, err := fingerprint.Run(ctx, fps)
	if err != nil {
		// Partial facts are still useful; the node registers with what was found.
		c.logger.Warn("fingerprinting incomplete", "error", err)
	}
	if attrs == nil {
		attrs = map[string]string{}
	}
	if res == nil || res.CpuMhz <= 0 || res.MemoryMb <= 0 {
		return nil, errors.New("fingerprint found no usable cpu or memory on this host")
	}
	name := c.cfg.Name
	if name == "" {
		name = attrs["unique.hostname"]
	}
	if name == "" {
		name, _ = os.Hostname()
	}
	node := &structs.Node{
		Id: c.id.NodeID, SecretId: c.id.SecretID, Name: name, Datacenter: c.cfg.Datacenter,
		NodeClass: c.cfg.NodeClass, Attributes: attrs, Resources: res, Meta: c.cfg.Meta,
		Drivers: map[string]*structs.DriverInfo{},
	}
	for name, d := range c.drivers {
		fp := d.Fingerprint(ctx)
		node.Drivers[name] = &structs.DriverInfo{
			Detected: fp.Detected, Healthy: fp.Healthy, HealthDescription: fp.HealthDescription, Attributes: fp.Attributes,
		}
		for k, v := range fp.Attributes {
			attrs[k] = v
		}
	}
	return node, nil
}

// Node returns the node as the client registers it (without its secret).
func (c *Client) Node() *structs.Node {
	n := proto.Clone(c.node).(*structs.Node)
	n.SecretId = ""
	return n
}

// NodeID is the node's id, stable across restarts with the same data dir.
func (c *Client) NodeID() string { return c.id.NodeID }

// Ready is closed once the node has registered with a server.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// Done is closed once the client has stopped.
func (c *Client) Done() <-chan struct{} { return c.done }

// Shutdown stops the client's goroutines and every task it runs. It is
// idempotent; ctx bounds how long tasks are given to stop.
func (c *Client) Shutdown(ctx context.Context) error {
	c.shutdownOnce.Do(func() {
		c.cancel()
		c.allocs.shutdown(ctx)
		c.wg.Wait()
		c.servers.close()
		c.logger.Info("client stopped")
		close(c.done)
	})
	<-c.done
	return nil
}

// run registers, then heartbeats and watches allocations until ctx is done.
func (c *Client) run(ctx context.Context) {
	ttl, err := c.register(ctx)
	if err != nil {
		return
	}
	c.readyOnce.Do(func() { close(c.ready) })
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.allocs.watch(ctx)
	}()
	c.heartbeatLoop(ctx, ttl)
}

// register retries until the node is registered or ctx is done.
func (c *Client) register(ctx context.Context) (time.Duration, error) {
	backoff := 100 * time.Millisecond
	for {
		resp, err := call(ctx, c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.NodeUpdateResponse, error) {
			return s.RegisterNode(ctx, &structs.NodeRegisterRequest{Node: c.node})
		})
		if err == nil {
			c.servers.setServers(resp.Servers)
			c.logger.Info("node registered", "ttl", time.Duration(resp.HeartbeatTtlMs)*time.Millisecond)
			return time.Duration(resp.HeartbeatTtlMs) * time.Millisecond, nil
		}
		c.logger.Debug("registration failed, retrying", "error", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return 0, ctx.Err()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// heartbeatLoop heartbeats once per TTL. A failed heartbeat is retried
// sooner; a server that no longer knows the node gets a new registration.
func (c *Client) heartbeatLoop(ctx context.Context, ttl time.Duration) {
	wait := ttl
	for {
		if !sleep(ctx, wait) {
			return
		}
		resp, err := call(ctx, c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.NodeUpdateResponse, error) {
			return s.Heartbeat(ctx, &structs.NodeHeartbeatRequest{NodeId: c.id.NodeID, SecretId: c.id.SecretID})
		})
		switch {
		case err == nil:
			c.servers.setServers(resp.Servers)
			ttl = time.Duration(resp.HeartbeatTtlMs) * time.Millisecond
			wait = ttl
		case errors.Is(err, structs.ErrNotFound):
			c.logger.Warn("servers no longer know this node, registering again")
			if ttl, err = c.register(ctx); err != nil {
				return
			}
			wait = ttl
		default:
			if ctx.Err() != nil {
				return
			}
			c.metrics.heartbeatFailures.Inc()
			c.logger.Warn("heartbeat failed, retrying", "error", err)
			wait = min(time.Second, ttl)
		}
	}
}

// sleep waits d or until ctx is done, reporting whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
