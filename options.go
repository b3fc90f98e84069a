package drover

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/fn"
	"github.com/droverhq/drover/fingerprint"
	"github.com/droverhq/drover/gc"
	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/server"
	"github.com/droverhq/drover/server/raft"
	"github.com/droverhq/drover/store"
	"github.com/droverhq/drover/transport"
	"github.com/droverhq/drover/transport/tcp"
)

// NoSchedulers, as ServerOptions.NumSchedulers, stops a server from running
// any scheduler worker (Nomad's num_schedulers = 0).
const NoSchedulers = -1

// SchedulerCore, in ServerOptions.EnabledSchedulers, is the scheduler of
// the servers' own housekeeping evaluations (garbage collection). The
// other names the list takes are job types (JobTypeService, ...).
const SchedulerCore = "_core"

// The job types under their former names, from when
// ServerOptions.EnabledSchedulers named schedulers apart from job types.
const (
	// Deprecated: use JobTypeService; a scheduler is named by its job type.
	SchedulerService = JobTypeService
	// Deprecated: use JobTypeBatch; a scheduler is named by its job type.
	SchedulerBatch = JobTypeBatch
	// Deprecated: use JobTypeSystem; a scheduler is named by its job type.
	SchedulerSystem = JobTypeSystem
	// Deprecated: use JobTypeSysBatch; a scheduler is named by its job type.
	SchedulerSysBatch = JobTypeSysBatch
)

// ServerOptions configures a server agent. Each field left at its zero value
// takes the default of the matching parameter of Nomad's server block.
type ServerOptions struct {
	// Name identifies the server among its peers. Default: the host name.
	Name string
	// Region the server belongs to. Default "global".
	Region string
	// Datacenter the server runs in. Default "dc1".
	Datacenter string
	// AuthoritativeRegion is the region holding global configuration (ACLs).
	// Default: the server's own region.
	AuthoritativeRegion string

	// DataDir holds the raft log, snapshots and state (bbolt). It must be an
	// absolute path; it is created if missing. Required unless Store is set.
	DataDir string
	// Store overrides the raft store, e.g. store/inmem for tests. When nil, a
	// bbolt store in DataDir is used.
	Store store.Store

	// BindAddr is the RPC listen address. Default "127.0.0.1:4647"; a ":0"
	// port picks a free one (Server.Addr reports it).
	BindAddr string
	// AdvertiseAddr is the RPC address other servers and clients are told
	// to use. Default: the address BindAddr resolved to.
	AdvertiseAddr string
	// Transport carries RPC and raft traffic. Default: plain TCP.
	Transport transport.Transport

	// SerfBindAddr is the gossip (serf) listen address, TCP and UDP.
	// Default: BindAddr's host on port 4648 (ports.serf), or on a free port
	// when BindAddr's port is 0; port 0 picks a free one (Server.GossipAddr
	// reports it).
	SerfBindAddr string
	// SerfAdvertiseAddr is the gossip address other servers are told.
	// Default: the bound address.
	SerfAdvertiseAddr string
	// DisableGossip turns serf off. The server then finds other servers
	// only through StaticPeers and cannot federate with other regions.
	// Default: off with a Transport other than transport/tcp (such as
	// transport/inmem) unless SerfBindAddr is set, on otherwise.
	DisableGossip bool
	// StaticPeers lists the RPC addresses of other servers of the region,
	// for forming a cluster without gossip.
	StaticPeers []string

	// BootstrapExpect is how many voting servers of the region must know
	// each other before they bootstrap the cluster together; a server
	// expecting 3 never elects itself alone. Default 1: the server
	// bootstraps by itself unless ServerJoin names servers to join.
	BootstrapExpect int
	// NonVotingServer makes the server a raft learner: it replicates but does
	// not count toward quorum.
	NonVotingServer bool
	// RejoinAfterLeave lets a server that left rejoin when restarted.
	RejoinAfterLeave bool
	// ServerJoin lists the servers to bootstrap or join with at start.
	ServerJoin ServerJoin
	// Encrypt is the base64 gossip encryption key (32 bytes). It is written
	// to the keyring in DataDir on first start and the keyring is used on
	// every later start; a key given once a keyring exists is ignored with
	// a warning. Rotate keys with Server.KeyringInstall/Use/Remove.
	Encrypt string
	// DeadServerThreshold is how long a server must have been failed in the
	// gossip pool before the leader removes it from the raft peer set,
	// which it never does while that would leave too few healthy voters.
	// Default 5m.
	DeadServerThreshold time.Duration

	// NumSchedulers is the number of scheduler workers. Default: the number
	// of CPU cores. NoSchedulers disables scheduling on this server.
	NumSchedulers int
	// EnabledSchedulers restricts the evaluations the workers take, by job
	// type (JobTypeService, JobTypeBatch, JobTypeSystem, JobTypeSysBatch,
	// a custom type of Schedulers) and SchedulerCore. Default: all of them.
	EnabledSchedulers []string
	// DefaultSchedulerConfig primes the scheduler configuration when the
	// cluster bootstraps; it is ignored afterwards.
	DefaultSchedulerConfig *SchedulerConfiguration
	// Schedulers registers custom schedulers by job type: a job whose type
	// is a key is scheduled by that factory's scheduler, through the same
	// broker, workers and plan applier as the built-in ones. Keys must not
	// be a built-in type or _core; they join EnabledSchedulers' default.
	Schedulers map[string]SchedulerFactory
	// EvalNackTimeout is how long, while this server leads, a scheduler
	// worker on another server may hold an evaluation without renewing
	// its lease (its server renews every third of it) before the broker
	// hands the evaluation to another worker: what a follower that died
	// or lost the leader mid-evaluation costs. Default 1m, as Nomad's.
	EvalNackTimeout time.Duration

	// DisableEventBroker turns the event stream off (enable_event_broker = false).
	DisableEventBroker bool
	// EventBufferSize is how many events are held for late subscribers. Default 100.
	EventBufferSize int

	// GC holds the garbage collection thresholds (node_gc_threshold,
	// job_gc_threshold, eval_gc_threshold, batch_eval_gc_threshold,
	// acl_token_gc_threshold, deployment_gc_threshold) and
	// job_gc_interval. Each zero field takes its default (GCConfig).
	GC GCConfig

	// Heartbeat holds the client heartbeat settings (min_heartbeat_ttl,
	// heartbeat_grace, failover_heartbeat_ttl, max_heartbeats_per_second).
	// Each zero field takes its default (HeartbeatConfig). A failover TTL
	// left at zero is raised when the cluster grows too large for the
	// default; one the host sets is used as given.
	Heartbeat HeartbeatConfig

	// PlanRejectionTracker marks nodes ineligible after repeated plan rejections.
	PlanRejectionTracker PlanRejectionTracker

	// Raft holds raft_multiplier, the raft snapshot policy
	// (raft_snapshot_threshold, raft_snapshot_interval,
	// raft_trailing_logs) and raft_boltdb.no_freelist_sync. Each zero
	// field takes its default (RaftConfig).
	Raft RaftConfig

	// JobDefaultPriority is the priority of a job that sets none. Default 50.
	JobDefaultPriority int
	// JobMaxPriority is the highest priority a job may have. Default 100.
	JobMaxPriority int
	// JobTrackedVersions is how many versions of a job are kept. Default 6.
	JobTrackedVersions int
	// JobMaxCount bounds the sum of a job's group counts at registration.
	// Default 50,000; negative: no limit (Nomad's job_max_count = 0).
	JobMaxCount int

	// TLS configures mutual TLS on RPC and HTTPS (the tls block); nil
	// leaves both plain.
	TLS *TLSOptions
	// ACL configures access control (the acl block).
	ACL ACLOptions
	// Limits bounds connections and handshakes (the limits block).
	Limits Limits

	// Keyring governs the root keyring, whose keys seal variables and
	// sign workload identities: root_key_rotation_threshold,
	// root_key_gc_threshold, root_key_gc_interval, and the key-encryption
	// key that wraps root keys as raft stores them. Each zero duration
	// takes its default (KeyringConfig).
	Keyring KeyringConfig

	// Logger receives the server's logs. Default: discard.
	Logger *slog.Logger
	// Registerer receives the server's metrics. Default: none are registered.
	Registerer prometheus.Registerer
	// Clock is the server's time: raft ticks, heartbeat timers, the
	// broker's delays, GC, drains, deployments, periodic launches, the
	// times recorded in the replicated state. Default clock.Real(); a test may pass a
	// *clock.Fake and step it.
	Clock clock.Clock
}

// HeartbeatConfig is the client heartbeat settings of a server
// (ServerOptions.Heartbeat). Defaults, Nomad's: MinTTL 10s, Grace 10s,
// FailoverTTL 5m, MaxPerSecond 50 (heartbeat.DefaultConfig).
type HeartbeatConfig = heartbeat.Config

// GCConfig is the garbage collection settings of a server
// (ServerOptions.GC). Defaults, Nomad's: nodes 24h, jobs 4h collected
// every 5m, evaluations 1h (batch 24h), expired ACL tokens 1h,
// deployments 1h (gc.DefaultConfig).
type GCConfig = gc.Config

// RaftConfig is the raft settings of a server (ServerOptions.Raft).
// Defaults, Nomad's: Multiplier 1, SnapshotThreshold 8192,
// SnapshotInterval 120s, TrailingLogs 10240 (raft.DefaultConfig).
type RaftConfig = raft.Config

// KeyringConfig is the root keyring settings of a server
// (ServerOptions.Keyring). Defaults, Nomad's: RotationThreshold 720h,
// GCThreshold 1h, GCInterval 10m, no KeyEncryptionKey
// (server.DefaultKeyringConfig).
type KeyringConfig = server.KeyringConfig

// ServerJoin is the server_join block (ServerOptions.ServerJoin): the
// servers to contact at start. Default RetryInterval 30s
// (server.DefaultJoinConfig).
type ServerJoin = server.JoinConfig

// PlanRejectionTracker configures the leader's plan rejection tracker
// (ServerOptions.PlanRejectionTracker). Defaults, Nomad's: off;
// NodeThreshold 100, NodeWindow 5m (server.DefaultPlanRejectionConfig).
type PlanRejectionTracker = server.PlanRejectionConfig

// SchedulerConfiguration is the cluster-wide scheduler configuration.
type SchedulerConfiguration struct {
	// SchedulerAlgorithm is "binpack" (default) or "spread".
	SchedulerAlgorithm string
	// MemoryOversubscriptionEnabled lets tasks use memory above their reservation.
	MemoryOversubscriptionEnabled bool
	// RejectJobRegistration refuses new job registrations.
	RejectJobRegistration bool
	// PauseEvalBroker stops evaluations from being handed to workers.
	PauseEvalBroker bool
	// PreemptionConfig says which schedulers may preempt lower-priority work.
	PreemptionConfig PreemptionConfig
}

// PreemptionConfig enables preemption per scheduler type.
type PreemptionConfig struct {
	SystemSchedulerEnabled   bool
	SysBatchSchedulerEnabled bool
	BatchSchedulerEnabled    bool
	ServiceSchedulerEnabled  bool
}

// DefaultSchedulerConfiguration is Nomad's default: bin-packing, with
// preemption on for the system and sysbatch schedulers only.
func DefaultSchedulerConfiguration() *SchedulerConfiguration {
	return schedulerConfigurationOf(scheduler.DefaultConfig())
}

// SchedulerFactory makes the scheduler of one evaluation for a custom job
// type (ServerOptions.Schedulers). The scheduler reads a state snapshot
// and returns a plan; see docs/scheduling.md.
type SchedulerFactory = scheduler.Factory

// Scheduler decides placements for the evaluations of one job type.
type Scheduler = scheduler.Scheduler

var validSchedulerName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// ErrInvalidOptions is matched (errors.Is) by every error Validate returns.
var ErrInvalidOptions = errors.New("invalid options")

func optErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
}

// WithDefaults returns a copy of o with every zero field set to its default.
func (o ServerOptions) WithDefaults() ServerOptions {
	setDefault(&o.Region, "global")
	setDefault(&o.Datacenter, "dc1")
	setDefault(&o.AuthoritativeRegion, o.Region)
	setDefault(&o.BindAddr, "127.0.0.1:4647")
	setDefault(&o.BootstrapExpect, 1)
	setDefault(&o.NumSchedulers, runtime.NumCPU())
	if len(o.EnabledSchedulers) == 0 {
		o.EnabledSchedulers = []string{JobTypeService, JobTypeBatch, JobTypeSystem, JobTypeSysBatch, SchedulerCore}
		o.EnabledSchedulers = append(o.EnabledSchedulers, slices.Sorted(maps.Keys(o.Schedulers))...)
	}
	if o.DefaultSchedulerConfig == nil {
		o.DefaultSchedulerConfig = DefaultSchedulerConfiguration()
	} else {
		c := *o.DefaultSchedulerConfig // never write to the caller's
		o.DefaultSchedulerConfig = &c
	}
	setDefault(&o.DefaultSchedulerConfig.SchedulerAlgorithm, scheduler.AlgorithmBinpack)
	setDefault(&o.EventBufferSize, 100)
	o.GC = o.GC.WithDefaults()
	o.Heartbeat = o.Heartbeat.WithDefaults()
	o.Raft = o.Raft.WithDefaults()
	o.PlanRejectionTracker = o.PlanRejectionTracker.WithDefaults()
	o.ServerJoin = o.ServerJoin.WithDefaults()
	setDefault(&o.DeadServerThreshold, 5*time.Minute)
	setDefault(&o.EvalNackTimeout, time.Minute)
	if o.Transport != nil && !isTCP(o.Transport) && o.SerfBindAddr == "" {
		// Gossip runs on real sockets; a server on another transport (an
		// in-memory network) finds its peers through StaticPeers.
		o.DisableGossip = true
	}
	if o.SerfBindAddr == "" && !o.DisableGossip {
		host, port, err := net.SplitHostPort(o.BindAddr)
		if err != nil {
			host, port = o.BindAddr, ""
		}
		serfPort := "4648"
		if port == "0" {
			serfPort = "0" // a free RPC port asks for a free gossip port too
		}
		o.SerfBindAddr = net.JoinHostPort(host, serfPort)
	}
	setDefault(&o.JobDefaultPriority, 50)
	setDefault(&o.JobMaxPriority, 100)
	setDefault(&o.JobTrackedVersions, 6)
	o.Keyring = o.Keyring.WithDefaults()
	o.ACL = o.ACL.WithDefaults()
	o.Limits.setDefaults()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.Or(o.Clock)
	return o
}

// Validate reports every impossible value among the options, after
// defaults are applied, in a stable order: the server's own settings,
// then those of the parts (GC, Heartbeat, Raft, Keyring, ServerJoin,
// PlanRejectionTracker), then TLS, limits and ACLs. Every error it returns matches ErrInvalidOptions.
func (o ServerOptions) Validate() error {
	o = o.WithDefaults()
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, optErr(format, args...)) }
	addPart := func(err error) {
		if err == nil {
			return
		}
		all := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			all = j.Unwrap()
		}
		for _, e := range all {
			errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidOptions, e))
		}
	}
	if o.Store == nil {
		if o.DataDir == "" {
			add("data dir is required (or set Store)")
		} else if !filepath.IsAbs(o.DataDir) {
			add("data dir %q must be an absolute path", o.DataDir)
		}
	}
	if o.BootstrapExpect < 1 {
		add("bootstrap_expect must be >= 1, got %d", o.BootstrapExpect)
	}
	if o.NumSchedulers < NoSchedulers {
		add("num_schedulers must be >= 0 (or NoSchedulers), got %d", o.NumSchedulers)
	}
	for _, s := range o.EnabledSchedulers {
		switch s {
		case JobTypeService, JobTypeBatch, JobTypeSystem, JobTypeSysBatch, SchedulerCore:
		default:
			if o.Schedulers[s] == nil {
				add("enabled_schedulers: unknown scheduler %q", s)
			}
		}
	}
	for name, f := range o.Schedulers {
		switch {
		case name == JobTypeService || name == JobTypeBatch || name == JobTypeSystem ||
			name == JobTypeSysBatch || name == SchedulerCore:
			add("schedulers: %q is a built-in scheduler and cannot be replaced", name)
		case !validSchedulerName.MatchString(name):
			add("schedulers: name %q must be letters, digits, '-' or '_', starting with a letter", name)
		case f == nil:
			add("schedulers: %q has no factory", name)
		}
	}
	switch o.DefaultSchedulerConfig.SchedulerAlgorithm {
	case "binpack", "spread":
	default:
		add("scheduler_algorithm must be binpack or spread, got %q", o.DefaultSchedulerConfig.SchedulerAlgorithm)
	}
	if o.JobMaxPriority < 100 || o.JobMaxPriority > 32766 {
		add("job_max_priority must be between 100 and 32766, got %d", o.JobMaxPriority)
	}
	if o.JobDefaultPriority < 50 || o.JobDefaultPriority > o.JobMaxPriority {
		add("job_default_priority must be between 50 and job_max_priority (%d), got %d", o.JobMaxPriority, o.JobDefaultPriority)
	}
	if o.JobTrackedVersions < 1 {
		add("job_tracked_versions must be >= 1, got %d", o.JobTrackedVersions)
	}
	if o.EventBufferSize < 1 {
		add("event_buffer_size must be >= 1, got %d", o.EventBufferSize)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"dead_server_threshold", o.DeadServerThreshold},
		{"eval_nack_timeout", o.EvalNackTimeout},
	} {
		if d.v < 0 {
			add("%s must not be negative, got %v", d.name, d.v)
		}
	}
	if o.Encrypt != "" {
		if _, err := server.DecodeGossipKey(o.Encrypt); err != nil {
			add("encrypt: %v", err)
		}
	}
	if o.DisableGossip && len(o.ServerJoin.RetryJoin) > 0 {
		add("server_join.retry_join needs gossip; use StaticPeers with DisableGossip")
	}
	if o.RejoinAfterLeave && o.Store != nil {
		add("rejoin_after_leave needs a server that owns its store (DataDir without Store)")
	}
	addPart(o.GC.Validate())
	addPart(o.Heartbeat.Validate())
	addPart(o.Raft.Validate())
	addPart(o.Keyring.Validate())
	addPart(o.ServerJoin.Validate())
	addPart(o.PlanRejectionTracker.Validate())
	o.TLS.validate(add)
	o.Limits.validate(add)
	addPart(o.ACL.Validate())
	return errors.Join(errs...)
}

// ClientOptions configures a client agent. Zero fields take defaults.
type ClientOptions struct {
	// Name is the node's name. Default: the host name.
	Name string
	// Region the client belongs to. Default "global".
	Region string
	// Datacenter of the node. Default "dc1".
	Datacenter string
	// NodeClass groups nodes for constraints.
	NodeClass string
	// Meta is free-form node metadata, usable in constraints as ${meta.KEY}.
	Meta map[string]string

	// DataDir holds the node's identity and the allocation directories. It
	// must be an absolute path; it is created if missing. Required.
	DataDir string
	// Servers are the RPC addresses of servers to register with. Required.
	Servers []string
	// Transport carries RPC traffic. Default: plain TCP, or mutual TLS
	// when TLS.RPC is set.
	Transport transport.Transport
	// TLS configures mutual TLS with the servers (the tls block); the
	// client's certificate should carry client.<region>.nomad.
	TLS *TLSOptions

	// Drivers run tasks. Default: the fn driver alone, with Functions
	// registered. exec (driver/exec) and raw_exec (driver/rawexec, host
	// commands without isolation) are only present when the host adds
	// them, as in Nomad.
	Drivers []driver.Driver
	// Functions are registered on the default fn driver, by name. That
	// driver belongs to the client, so its tasks stop when the client
	// shuts down; tasks of other drivers keep running, to be reattached,
	// unless the client stops with Client.ShutdownAndStopTasks.
	Functions map[string]fn.Func
	// Fingerprinters add facts to the built-in fingerprint of the host.
	// Their attributes are usable in constraints as ${attr.NAME}; those
	// implementing fingerprint.Periodic are run again on their interval,
	// and a change registers the node's new facts.
	Fingerprinters []fingerprint.Fingerprinter

	// HostVolumes are the node's host volumes (Nomad's client host_volume
	// blocks), by name: directories that groups ask for with a volume
	// block of type host, placed only on nodes that have them, and that
	// tasks mount with volume_mount. Each path must be an existing
	// absolute directory.
	HostVolumes map[string]HostVolume

	// DrainOnShutdown (Nomad's drain_on_shutdown block) makes a client that
	// leaves (see LeaveOnInterrupt, LeaveOnTerminate) drain its node first.
	// Nil: no drain.
	DrainOnShutdown *DrainOnShutdown
	// LeaveOnInterrupt makes Client.ShutdownOnSignal(ctx, SIGINT) leave
	// the cluster gracefully (Nomad's leave_on_interrupt).
	LeaveOnInterrupt bool
	// LeaveOnTerminate makes Client.Shutdown, and ShutdownOnSignal with
	// SIGTERM, leave the cluster gracefully (Nomad's leave_on_terminate).
	LeaveOnTerminate bool

	// Logger receives the client's logs. Default: discard.
	Logger *slog.Logger
	// Registerer receives the client's metrics. Default: none are registered.
	Registerer prometheus.Registerer
	// Clock is the client's time: heartbeats, backoffs, restart delays,
	// health and check timers, the times recorded in task states.
	// Default clock.Real().
	Clock clock.Clock
}

// HostVolume is one of a client's host volumes.
type HostVolume struct {
	// Path is the directory on the host.
	Path string
	// ReadOnly lets tasks only read it, whatever their jobs ask for.
	ReadOnly bool
}

// DrainOnShutdown is Nomad's drain_on_shutdown block: how a leaving
// client drains its node.
type DrainOnShutdown struct {
	// Deadline bounds the drain; past it, what is left is stopped. Default 1h.
	Deadline time.Duration
	// Force stops every allocation at once instead.
	Force bool
	// IgnoreSystemJobs leaves system jobs' allocations running.
	IgnoreSystemJobs bool
}

// WithDefaults returns a copy of o with every zero field set to its default.
func (o ClientOptions) WithDefaults() ClientOptions {
	setDefault(&o.Region, "global")
	setDefault(&o.Datacenter, "dc1")
	if o.DrainOnShutdown != nil {
		d := *o.DrainOnShutdown
		setDefault(&d.Deadline, time.Hour)
		o.DrainOnShutdown = &d
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.Or(o.Clock)
	return o
}

// Validate reports impossible values among the options.
func (o ClientOptions) Validate() error {
	var errs []error
	if o.DataDir == "" {
		errs = append(errs, optErr("client data dir is required"))
	} else if !filepath.IsAbs(o.DataDir) {
		errs = append(errs, optErr("client data dir %q must be an absolute path", o.DataDir))
	}
	if len(o.Servers) == 0 {
		errs = append(errs, optErr("at least one server address is required"))
	}
	for name, v := range o.HostVolumes {
		if name == "" || strings.ContainsAny(name, "/\x00") {
			errs = append(errs, optErr("host volume %q: the name may not be empty or hold '/'", name))
		}
		if !filepath.IsAbs(v.Path) {
			errs = append(errs, optErr("host volume %q: path %q must be absolute", name, v.Path))
		}
	}
	if d := o.DrainOnShutdown; d != nil && d.Deadline < 0 {
		errs = append(errs, optErr("drain_on_shutdown.deadline must not be negative, got %v (use Force)", d.Deadline))
	}
	o.TLS.validate(func(format string, args ...any) { errs = append(errs, optErr(format, args...)) })
	names := map[string]bool{}
	for _, d := range o.Drivers {
		if d == nil {
			errs = append(errs, optErr("nil driver"))
			continue
		}
		if names[d.Name()] {
			errs = append(errs, optErr("driver %q given twice", d.Name()))
		}
		names[d.Name()] = true
	}
	return errors.Join(errs...)
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

func isTCP(t transport.Transport) bool {
	switch t.(type) {
	case tcp.Transport, *tcp.Transport:
		return true
	}
	return false
}
