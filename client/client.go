// Package client is the client agent: it fingerprints its host, registers
// with the servers, heartbeats on the TTL they return, watches the
// allocations placed on it and runs their tasks through drivers. It keeps
// its allocations, task handles and unsent status updates in a bbolt file
// in its data dir, so that a restarted client reattaches to the tasks that
// kept running and carries on.
package client

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/client/artifact"
	"github.com/droverhq/drover/client/template"
	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/fingerprint"
	"github.com/droverhq/drover/structs"
	"github.com/droverhq/drover/transport"
	"github.com/droverhq/drover/transport/tcp"
)

// Config is what a client needs; the drover package builds it from
// ClientOptions with defaults applied and validated.
type Config struct {
	Name       string
	Region     string
	Datacenter string
	NodeClass  string
	Meta       map[string]string
	DataDir    string
	Servers    []string
	Transport  transport.Transport
	// VerifyServerName makes the client accept a server only with a
	// certificate for server.<Region>.nomad (verify_server_hostname);
	// Transport must carry the TLS material.
	VerifyServerName bool
	Drivers          []driver.Driver
	Fingerprinters   []fingerprint.Fingerprinter
	Logger           *slog.Logger
	// Clock is the client's time: heartbeats, backoffs, restart delays,
	// health and check timers, the times recorded in task states. Default
	// the real clock.
	Clock clock.Clock
	// Registerer receives the client's metrics; nil registers none.
	Registerer prometheus.Registerer
	// UpdateInterval is how often allocation status changes are batched to
	// the servers. Default 200ms.
	UpdateInterval time.Duration
	// DriverFingerprintInterval is how often drivers are fingerprinted
	// again (health can change). Default 30s.
	DriverFingerprintInterval time.Duration
	// LogCheckInterval is how often task log files are checked for
	// rotation. Default driver.DefaultLogCheckInterval.
	LogCheckInterval time.Duration

	// HostVolumes are the node's host volumes, by name: directories jobs
	// may mount into their tasks (group volume blocks of type host). Each
	// path must be an absolute path to an existing directory.
	HostVolumes map[string]HostVolume
	// TemplateInterval is how often running tasks' templates are
	// rendered again. Default DefaultTemplateInterval.
	TemplateInterval time.Duration
	// TemplateLookups answers templates' nomadVar, nomadVarList,
	// nomadService and nomadServices; nil asks the servers, with each
	// task's workload identity.
	TemplateLookups template.Lookups

	// StopOnShutdown names drivers whose tasks Shutdown stops, because
	// nothing could reattach to them (the default fn driver, which only
	// this client holds). Other tasks keep running across a shutdown.
	StopOnShutdown []string
	// DrainOnShutdown, when set, makes a leaving client drain its node
	// before it stops.
	DrainOnShutdown *DrainConfig
	// LeaveOnInterrupt and LeaveOnTerminate make the client leave (drain,
	// with DrainOnShutdown) when it shuts down on that signal; Shutdown
	// counts as terminate.
	LeaveOnInterrupt bool
	LeaveOnTerminate bool
}

// HostVolume is a directory of the node that jobs may mount.
type HostVolume struct {
	// Path is the directory on the host.
	Path string
	// ReadOnly: tasks may only read it, whatever they ask for.
	ReadOnly bool
}

// DrainConfig is how a node drains on shutdown.
type DrainConfig struct {
	// Deadline bounds the drain; past it remaining allocations are
	// stopped. Zero or negative stops them at once.
	Deadline time.Duration
	// IgnoreSystemJobs leaves system jobs' allocations running.
	IgnoreSystemJobs bool
}

// Client is a running client agent.
type Client struct {
	cfg       Config
	clock     clock.Clock
	logger    *slog.Logger
	id        identity
	drivers   map[string]driver.Driver
	servers   *serverConns
	state     *localState
	allocs    *allocManager
	updates   *allocUpdater
	metrics   *metrics
	facts     *fingerprint.Manager
	artifacts *artifact.Fetcher
	// templateLookups answers templates' lookups when the host set them;
	// nil: the servers answer, through taskLookups.
	templateLookups template.Lookups
	// logs tracks the rotations of live task logs, for their readers.
	logs *logWatches
	// link is the connection through which the servers reach the client.
	link *serverLink
	// hostCPU is the previous host cpu sample, for node stats.
	hostCPU hostCPUSample

	nodeMu sync.Mutex
	node   *structs.Node

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	readyOnce    sync.Once
	ready        chan struct{}
	done         chan struct{}
	shutdownOnce sync.Once
	// stopTasks: the shutdown stops every task (ShutdownAndStopTasks).
	stopTasks atomic.Bool
}

// New fingerprints the host, restores what the client ran before a
// restart (reattaching to tasks still running) and starts the client;
// registration with the servers happens in the background (Ready tells
// when it succeeded).
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
	if cfg.DriverFingerprintInterval <= 0 {
		cfg.DriverFingerprintInterval = 30 * time.Second
	}
	if cfg.DataDir == "" {
		return nil, errors.New("client data dir is required")
	}
	if err := prepareDataDir(cfg.DataDir, cfg.Logger.With("agent", "client")); err != nil {
		return nil, err
	}
	if err := checkHostVolumes(cfg.HostVolumes); err != nil {
		return nil, err
	}
	id, err := loadIdentity(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:       cfg,
		clock:     clock.Or(cfg.Clock),
		logger:    cfg.Logger.With("agent", "client", "node_id", id.NodeID),
		id:        id,
		drivers:   map[string]driver.Driver{},
		servers:   newServerConns(cfg.Transport, cfg.Servers, serverNameFor(cfg)),
		artifacts: &artifact.Fetcher{},
		logs:      newLogWatches(),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
	}
	for _, d := range cfg.Drivers {
		c.drivers[d.Name()] = d
	}
	// Without the host's own, each task's templates read from the
	// servers with the task's workload identity (taskLookups).
	c.templateLookups = cfg.TemplateLookups
	c.link = newServerLink(c)
	c.allocs = newAllocManager(c)
	if c.metrics, err = newMetrics(cfg.Registerer, c.allocs.running); err != nil {
		return nil, err
	}
	if c.state, err = openState(cfg.DataDir); err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	fps := append(fingerprint.Builtins(), fingerprint.Disk(cfg.DataDir))
	c.facts = fingerprint.NewManager(append(fps, cfg.Fingerprinters...))
	if err := c.facts.RunAll(c.ctx, c.clock.Now()); err != nil {
		// Partial facts are still useful; the node registers with what was found.
		c.logger.Warn("fingerprinting incomplete", "error", err)
	}
	node, err := c.buildNode(c.ctx, nil)
	if err != nil {
		c.cancel()
		c.state.close()
		return nil, err
	}
	c.node = node
	c.updates = newAllocUpdater(c, cfg.UpdateInterval)

	ups, err := c.state.updates()
	if err != nil {
		c.logger.Warn("reading unsent allocation updates", "error", err)
	}
	c.updates.restore(ups)
	restored, err := c.state.allocs()
	if err != nil {
		c.logger.Warn("reading local allocation state", "error", err)
	}
	c.allocs.restore(c.ctx, restored)

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

// buildNode builds the node the client registers as from the latest facts
// and driver fingerprints (nil: fingerprint the drivers now).
func (c *Client) buildNode(ctx context.Context, drivers map[string]*structs.DriverInfo) (*structs.Node, error) {
	attrs, res := c.facts.Facts()
	if res.CpuMhz <= 0 || res.MemoryMb <= 0 {
		return nil, errors.New("fingerprint found no usable cpu or memory on this host")
	}
	if drivers == nil {
		drivers = c.fingerprintDrivers(ctx)
	}
	for _, d := range drivers {
		for k, v := range d.Attributes {
			attrs[k] = v
		}
	}
	name := c.cfg.Name
	if name == "" {
		name = attrs["unique.hostname"]
	}
	if name == "" {
		name, _ = os.Hostname()
	}
	var vols map[string]*structs.ClientHostVolume
	for name, v := range c.cfg.HostVolumes {
		if vols == nil {
			vols = map[string]*structs.ClientHostVolume{}
		}
		vols[name] = &structs.ClientHostVolume{Path: v.Path, ReadOnly: v.ReadOnly}
	}
	return &structs.Node{
		Id: c.id.NodeID, SecretId: c.id.SecretID, Name: name, Datacenter: c.cfg.Datacenter, Region: c.cfg.Region,
		NodeClass: c.cfg.NodeClass, Attributes: attrs, Resources: res, Meta: c.cfg.Meta,
		Drivers: drivers, HostVolumes: vols,
	}, nil
}

func (c *Client) fingerprintDrivers(ctx context.Context) map[string]*structs.DriverInfo {
	out := make(map[string]*structs.DriverInfo, len(c.drivers))
	for name, d := range c.drivers {
		fp := d.Fingerprint(ctx)
		out[name] = &structs.DriverInfo{
			Detected: fp.Detected, Healthy: fp.Healthy, HealthDescription: fp.HealthDescription, Attributes: fp.Attributes,
		}
	}
	return out
}

// nodeCopy returns the node as registered, secret included.
func (c *Client) nodeCopy() *structs.Node {
	c.nodeMu.Lock()
	defer c.nodeMu.Unlock()
	return proto.Clone(c.node).(*structs.Node)
}

// Node returns the node as the client registers it (without its secret).
func (c *Client) Node() *structs.Node {
	n := c.nodeCopy()
	n.SecretId = ""
	return n
}

// NodeID is the node's id, stable across restarts with the same data dir.
func (c *Client) NodeID() string { return c.id.NodeID }

// Ready is closed once the node has registered with a server.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// Done is closed once the client has stopped.
func (c *Client) Done() <-chan struct{} { return c.done }

// stopsOnShutdown reports whether tasks of the driver stop with the client.
func (c *Client) stopsOnShutdown(driverName string) bool {
	return c.stopTasks.Load() || slices.Contains(c.cfg.StopOnShutdown, driverName)
}

// Shutdown stops the client as a terminate signal would: with
// LeaveOnTerminate and DrainOnShutdown set, the node drains first (see
// ShutdownOnSignal). Its state is written to its data dir and its tasks
// keep running, to be reattached by the next client started on the same
// data dir; only tasks of StopOnShutdown drivers are stopped
// (ShutdownAndStopTasks stops them all). It is idempotent; ctx bounds the
// drain.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.ShutdownOnSignal(ctx, syscall.SIGTERM)
}

// ShutdownAndStopTasks is Shutdown that also stops every task the client
// runs, whatever its driver, each as a stop of its allocation would: its
// kill signal, then SIGKILL past its kill timeout. Use it when nothing
// will reattach to the tasks: a host that removes the client's DataDir
// afterwards, or one whose tasks must not outlive it. Their allocations
// are not reported as stopped: the servers find the node gone once its
// heartbeats stop, as after Shutdown, and place them elsewhere; a client
// started again on the same DataDir starts again those the servers still
// want on it. Called after a Shutdown has begun, it stops nothing more.
func (c *Client) ShutdownAndStopTasks(ctx context.Context) error {
	c.stopTasks.Store(true)
	return c.Shutdown(ctx)
}

// ShutdownOnSignal stops the client in answer to sig: on SIGINT with
// LeaveOnInterrupt, or SIGTERM with LeaveOnTerminate, the client leaves,
// which with DrainOnShutdown means its node is drained (its allocations
// migrated, bounded by the drain deadline and ctx) before it stops. Any
// other signal, or none of those options, stops it at once, as Shutdown
// describes.
func (c *Client) ShutdownOnSignal(ctx context.Context, sig os.Signal) error {
	var err error
	c.shutdownOnce.Do(func() {
		leave := sig == syscall.SIGINT && c.cfg.LeaveOnInterrupt || sig == syscall.SIGTERM && c.cfg.LeaveOnTerminate
		if leave && c.cfg.DrainOnShutdown != nil {
			err = c.drainAndWait(ctx, c.cfg.DrainOnShutdown)
			if err != nil {
				c.logger.Warn("drain on shutdown did not finish", "error", err)
			}
		}
		c.cancel()
		c.allocs.shutdown()
		c.wg.Wait()
		c.link.stop()
		c.servers.close()
		if cerr := c.state.close(); cerr != nil {
			c.logger.Warn("closing client state", "error", cerr)
		}
		c.logger.Info("client stopped")
		close(c.done)
	})
	<-c.done
	return err
}

// run registers, then heartbeats, watches allocations and refreshes
// fingerprints until ctx is done.
func (c *Client) run(ctx context.Context) {
	ttl, err := c.register(ctx)
	if err != nil {
		return
	}
	c.readyOnce.Do(func() { close(c.ready) })
	c.wg.Add(3)
	go func() {
		defer c.wg.Done()
		c.allocs.watch(ctx)
	}()
	go func() {
		defer c.wg.Done()
		c.link.run(ctx)
	}()
	go func() {
		defer c.wg.Done()
		c.refreshFacts(ctx)
	}()
	c.heartbeatLoop(ctx, ttl)
}

// register retries until the node is registered or ctx is done.
func (c *Client) register(ctx context.Context) (time.Duration, error) {
	backoff := 100 * time.Millisecond
	for {
		ttl, err := c.registerOnce(ctx)
		if err == nil {
			return ttl, nil
		}
		c.logger.Debug("registration failed, retrying", "error", err, "in", backoff)
		if !clock.Sleep(ctx, c.clock, backoff) {
			return 0, ctx.Err()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (c *Client) registerOnce(ctx context.Context) (time.Duration, error) {
	node := c.nodeCopy()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := call(rctx, c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.NodeUpdateResponse, error) {
		return s.RegisterNode(ctx, &structs.NodeRegisterRequest{Node: node})
	})
	if err != nil {
		return 0, err
	}
	c.servers.setServers(resp.Servers)
	ttl := time.Duration(resp.HeartbeatTtlMs) * time.Millisecond
	c.logger.Info("node registered", "ttl", ttl)
	return ttl, nil
}

// heartbeatLoop heartbeats once per TTL. A failed heartbeat is retried
// sooner; a server that no longer knows the node gets a new registration.
func (c *Client) heartbeatLoop(ctx context.Context, ttl time.Duration) {
	next := ttl
	failing := false
	for {
		if !clock.Sleep(ctx, c.clock, next) {
			return
		}
		hctx, cancel := context.WithTimeout(ctx, max(ttl/2, time.Second))
		resp, err := call(hctx, c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.NodeUpdateResponse, error) {
			return s.Heartbeat(ctx, &structs.NodeHeartbeatRequest{NodeId: c.id.NodeID, SecretId: c.id.SecretID})
		})
		cancel()
		switch {
		case err == nil:
			c.servers.setServers(resp.Servers)
			ttl = time.Duration(resp.HeartbeatTtlMs) * time.Millisecond
			next = ttl
			if failing {
				// Back in touch: what the servers decided meanwhile
				// (allocations replaced elsewhere) is fetched now.
				failing = false
				c.allocs.poll()
			}
		case errors.Is(err, structs.ErrNotFound):
			c.logger.Warn("servers no longer know this node, registering again")
			if ttl, err = c.register(ctx); err != nil {
				return
			}
			next = ttl
			failing = false
			c.allocs.poll()
		default:
			if ctx.Err() != nil {
				return
			}
			c.metrics.heartbeatFailures.Inc()
			c.logger.Warn("heartbeat failed, retrying", "error", err)
			failing = true
			next = min(time.Second, ttl)
		}
	}
}

// refreshFacts reruns periodic fingerprinters and the drivers'
// fingerprints on their intervals; when the node's facts change, the node
// registers again so that the servers place work by the new facts.
func (c *Client) refreshFacts(ctx context.Context) {
	nextDrivers := c.clock.Now().Add(c.cfg.DriverFingerprintInterval)
	dirty := false
	for {
		wake := nextDrivers
		if due, ok := c.facts.Due(); ok && due.Before(wake) {
			wake = due
		}
		if dirty {
			wake = c.clock.Now().Add(time.Second)
		}
		if !clock.Sleep(ctx, c.clock, clock.Until(c.clock, wake)) {
			return
		}
		now := c.clock.Now()
		changed, err := c.facts.RunDue(ctx, now)
		if err != nil {
			c.logger.Debug("fingerprint refresh", "error", err)
		}
		old := c.nodeCopy()
		drivers := old.Drivers
		if !now.Before(nextDrivers) {
			drivers = c.fingerprintDrivers(ctx)
			nextDrivers = now.Add(c.cfg.DriverFingerprintInterval)
			changed = changed || !driversEqual(old.Drivers, drivers)
		}
		if changed {
			node, err := c.buildNode(ctx, drivers)
			if err != nil {
				c.logger.Warn("fingerprint refresh", "error", err)
				continue
			}
			c.nodeMu.Lock()
			c.node = node
			c.nodeMu.Unlock()
			c.logger.Info("node facts changed, registering them")
			dirty = true
		}
		if dirty {
			if _, err := c.registerOnce(ctx); err == nil {
				dirty = false
			} else if ctx.Err() == nil {
				c.logger.Warn("registering changed node facts failed, retrying", "error", err)
			}
		}
	}
}

func driversEqual(a, b map[string]*structs.DriverInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !proto.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
