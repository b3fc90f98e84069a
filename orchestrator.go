// Package drover embeds a Nomad-style orchestrator in a Go program.
//
// A host starts servers with NewServer, which agree on cluster state through
// raft and schedule work, and clients with NewClient, which fingerprint their
// host, register, heartbeat and run the tasks placed on them through drivers.
//
//	srv, err := drover.NewServer(drover.ServerOptions{DataDir: dir, BindAddr: "127.0.0.1:0"})
//	...
//	cli, err := drover.NewClient(drover.ClientOptions{DataDir: dir2, Servers: []string{srv.Addr()}})
//	...
//	resp, err := srv.RegisterJob(ctx, job)
package drover

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverhq/drover/client"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/driver/fn"
	"github.com/droverhq/drover/server"
	"github.com/droverhq/drover/structs"
	"github.com/droverhq/drover/transport/tcp"
)

// The data model, under the names a user of the package writes.
type (
	// Job is the desired state of one workload.
	Job = structs.Job
	// TaskGroup is a set of tasks placed together.
	TaskGroup = structs.TaskGroup
	// Task is one unit of work run by a driver.
	Task = structs.Task
	// Resources is an amount of cpu (MHz), memory (MB) and disk (MB).
	Resources = structs.Resources
	// Constraint restricts placement by node attribute.
	Constraint = structs.Constraint
	// RestartPolicy governs restarts of failed tasks.
	RestartPolicy = structs.RestartPolicy
	// Node is a client host as the servers know it.
	Node = structs.Node
	// Allocation binds a task group instance to a node.
	Allocation = structs.Allocation
	// Evaluation is a unit of scheduling work.
	Evaluation = structs.Evaluation
	// TaskState is a task's lifecycle state on its client.
	TaskState = structs.TaskState
	// Artifact is a file or archive a task needs, fetched before it starts.
	Artifact = structs.Artifact
	// LogConfig bounds a task's rotated log files.
	LogConfig = structs.LogConfig
	// DrainStrategy says how a node drains.
	DrainStrategy = structs.DrainStrategy
	// JobSummary counts a job's allocations by task group and status.
	JobSummary = structs.JobSummary
	// TaskGroupSummary is one task group's counts in a JobSummary.
	TaskGroupSummary = structs.TaskGroupSummary
	// ValidationError lists every problem of an invalid job.
	ValidationError = structs.ValidationError
	// Driver runs tasks of one kind on a client.
	Driver = driver.Driver
	// RaftServer is one server of the raft peer set, as Server.RaftConfiguration reports it.
	RaftServer = server.RaftServer
	// Member is one server of the gossip pool, as Server.Members reports it.
	Member = server.Member
	// KeyringResponse is what a gossip keyring operation found across the servers.
	KeyringResponse = server.KeyringResponse
	// ACLPolicy is a named set of rules in Nomad's ACL policy language.
	ACLPolicy = structs.ACLPolicy
	// ACLToken grants its policies' rules (or everything, for a management
	// token) to whoever presents its secret.
	ACLToken = structs.ACLToken
	// TaskLifecycle makes a task a prestart, poststart or poststop task,
	// or a sidecar (docs/jobspec.md).
	TaskLifecycle = structs.TaskLifecycle
	// Template is a file the client renders for a task and renders again
	// when what it reads changes.
	Template = structs.Template
	// ChangeScript is what a template with change_mode "script" runs.
	ChangeScript = structs.ChangeScript
	// VolumeRequest is a group's volume: one of its node's host volumes.
	VolumeRequest = structs.VolumeRequest
	// VolumeMount mounts one of the group's volumes into a task.
	VolumeMount = structs.VolumeMount
	// EphemeralDisk is a group's allocation data directory; sticky keeps
	// it across replacements on the same node.
	EphemeralDisk = structs.EphemeralDisk
)

// Lifecycle hooks, template change modes and volume types, as jobs write
// them.
const (
	LifecyclePrestart  = structs.LifecyclePrestart
	LifecyclePoststart = structs.LifecyclePoststart
	LifecyclePoststop  = structs.LifecyclePoststop
	ChangeModeRestart  = structs.ChangeModeRestart
	ChangeModeSignal   = structs.ChangeModeSignal
	ChangeModeNoop     = structs.ChangeModeNoop
	ChangeModeScript   = structs.ChangeModeScript
	VolumeTypeHost     = structs.VolumeTypeHost
)

// Errors callers branch on with errors.Is.
var (
	// ErrValidation matches every *ValidationError: the input was rejected whole.
	ErrValidation = structs.ErrValidation
	// ErrNotFound: the job, node, allocation or evaluation does not exist.
	ErrNotFound = structs.ErrNotFound
	// ErrNotLeader: the call needed the leader and reached another server.
	ErrNotLeader = structs.ErrNotLeader
	// ErrNoLeader: the cluster has no leader within the wait.
	ErrNoLeader = structs.ErrNoLeader
	// ErrPermissionDenied: the caller may not touch the object.
	ErrPermissionDenied = structs.ErrPermissionDenied
	// ErrShutdown: the agent has been shut down.
	ErrShutdown = structs.ErrShutdown
	// ErrRegistrationRejected: the scheduler configuration refuses job
	// registrations (reject_job_registration).
	ErrRegistrationRejected = structs.ErrRegistrationRejected
	// ErrBadRequest: a request is malformed (a damaged backup, a node
	// without an id, …) and changed nothing.
	ErrBadRequest = structs.ErrBadRequest
	// ErrLeadershipLost: the leader was lost while a write was in flight,
	// so it may or may not have been applied; retry it if it is idempotent.
	ErrLeadershipLost = structs.ErrLeadershipLost
	// ErrUnknownRegion: a call named a region no server of the federation serves.
	ErrUnknownRegion = structs.ErrUnknownRegion
	// ErrTokenNotFound: the ACL token a call carries does not exist or has
	// expired. It matches ErrPermissionDenied too.
	ErrTokenNotFound = structs.ErrTokenNotFound
	// ErrACLDisabled: an ACL operation reached servers running without ACLs.
	ErrACLDisabled = structs.ErrACLDisabled
	// ErrACLBootstrapped: the ACL system was bootstrapped already.
	ErrACLBootstrapped = structs.ErrACLBootstrapped
)

// AllowStale returns a context under which reads (Job, Jobs, Allocations,
// Nodes, Evaluation, Evaluations) are served from the receiving server's
// own state without asking the leader: faster and available without a
// quorum, but possibly behind the latest writes. By default a read on any
// server sees every write acknowledged before it began.
func AllowStale(ctx context.Context) context.Context { return server.AllowStale(ctx) }

// InRegion returns a context under which job registration and
// deregistration and the reads of jobs, allocations, nodes and evaluations
// go to the servers of region, which may be another region of the
// federation, instead of the receiving server's own. A job whose Region
// is set goes to that region whatever the context says.
func InRegion(ctx context.Context, region string) context.Context {
	return server.InRegion(ctx, region)
}

// Server is a running server agent. Its methods are what a host uses:
// lifecycle (Ready, WaitForLeader, Shutdown, Leave, Reload), jobs
// (RegisterJob, DeregisterJob, Job, Jobs), allocations, evaluations and
// nodes (reads, WatchAllocations, WatchJob, node eligibility and drains),
// the cluster (Join, Members, RaftConfiguration, RemoveServer, the gossip
// keyring, Backup, Restore, the scheduler configuration, GarbageCollect,
// Events), ACLs, and the HTTP API (HTTPHandler, ListenHTTP). Every method
// is safe for concurrent use; the ones that take a context act with the
// host's full authority unless WithToken attaches a caller's token, and
// answer for another region under InRegion. What clients say to servers
// (registration, heartbeats, allocation updates) travels over RPC and is
// not part of this type.
type Server struct {
	srv      *server.Server
	opts     ServerOptions
	logger   *slog.Logger
	gatherer prometheus.Gatherer
	// tls is the certificate material of RPC and HTTPS; nil without TLS.
	tls *tcp.Material
}

// NewServer validates opts, fills in defaults, and starts a server. It
// returns once the server is listening; Ready tells when it has a leader.
func NewServer(opts ServerOptions) (*Server, error) {
	pinnedFailover := opts.Heartbeat.FailoverTTL != 0
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.WithDefaults()
	numSchedulers := o.NumSchedulers
	if numSchedulers == NoSchedulers {
		numSchedulers = 0
	}
	material, err := o.TLS.loadMaterial()
	if err != nil {
		return nil, err
	}
	var rpcTLS *tcp.Material
	if o.TLS.enabled() && o.TLS.RPC {
		rpcTLS = material
	}
	tr, err := secureTransport(o.Transport, rpcTLS, o.Limits.RPCHandshakeTimeout, connLimit(o.Limits.RPCMaxConnsPerClient))
	if err != nil {
		return nil, err
	}
	join := o.ServerJoin
	join.RetryJoin = slices.Clone(join.RetryJoin)
	srv, err := server.New(server.Config{
		Name:          o.Name,
		Region:        o.Region,
		Datacenter:    o.Datacenter,
		DataDir:       o.DataDir,
		Store:         o.Store,
		BindAddr:      o.BindAddr,
		AdvertiseAddr: o.AdvertiseAddr,
		Transport:     tr,

		TLS:                  rpcTLS,
		VerifyServerHostname: o.TLS != nil && o.TLS.VerifyServerHostname,
		RPCHandshakeTimeout:  o.Limits.RPCHandshakeTimeout,
		ACL:                  o.ACL,

		BootstrapExpect:     o.BootstrapExpect,
		StaticPeers:         slices.Clone(o.StaticPeers),
		NonVoting:           o.NonVotingServer,
		DisableGossip:       o.DisableGossip,
		SerfBindAddr:        o.SerfBindAddr,
		SerfAdvertiseAddr:   o.SerfAdvertiseAddr,
		Join:                join,
		Encrypt:             o.Encrypt,
		RejoinAfterLeave:    o.RejoinAfterLeave,
		DeadServerThreshold: o.DeadServerThreshold,
		AuthoritativeRegion: o.AuthoritativeRegion,

		NumSchedulers:     numSchedulers,
		EnabledSchedulers: slices.Clone(o.EnabledSchedulers),
		Scheduling: server.SchedulingConfig{
			DefaultSchedulerConfig: o.DefaultSchedulerConfig.proto(),
			Schedulers:             maps.Clone(o.Schedulers),
			JobTrackedVersions:     o.JobTrackedVersions,
			PlanRejection:          o.PlanRejectionTracker,
			EvalNackTimeout:        o.EvalNackTimeout,
		},
		Heartbeat:         o.Heartbeat,
		FailoverTTLPinned: pinnedFailover,
		Raft:              o.Raft,
		GC:                o.GC,

		JobDefaultPriority: o.JobDefaultPriority,
		JobMaxPriority:     o.JobMaxPriority,
		JobMaxCount:        o.JobMaxCount,

		Keyring: o.Keyring,

		DisableEventBroker: o.DisableEventBroker,
		EventBufferSize:    o.EventBufferSize,

		Logger:     o.Logger,
		Registerer: o.Registerer,
		Clock:      o.Clock,
	})
	if err != nil {
		return nil, err
	}
	// A registry the host passes (prometheus.NewRegistry) also gathers:
	// then /v1/metrics serves it.
	g, _ := o.Registerer.(prometheus.Gatherer)
	return &Server{srv: srv, opts: o, logger: o.Logger, gatherer: g, tls: material}, nil
}

// Client is a running client agent: it registers its node with the
// servers, heartbeats, and runs the tasks placed on the node. Its methods
// are safe for concurrent use.
type Client struct {
	cli *client.Client
	// tls is the certificate material of RPC; nil without TLS.
	tls *tcp.Material
	// tlsOpts are the TLS options, for the client's own HTTP API.
	tlsOpts *TLSOptions
}

// NewClient validates opts, fingerprints the host and starts a client. It
// returns once the client runs; Ready tells when it has registered.
func NewClient(opts ClientOptions) (*Client, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.WithDefaults()
	drivers := slices.Clone(o.Drivers)
	hasFn := slices.ContainsFunc(drivers, func(d driver.Driver) bool { return d.Name() == "fn" })
	var stopOnShutdown []string
	if !hasFn {
		// Only this client holds the default fn driver: nothing could
		// reattach to its functions, so they stop with the client.
		stopOnShutdown = append(stopOnShutdown, fn.Name)
		f := fn.New(o.Logger)
		for name, fun := range o.Functions {
			if err := f.Register(name, fun); err != nil {
				return nil, fmt.Errorf("%w: function %q: %w", ErrInvalidOptions, name, err)
			}
		}
		drivers = append(drivers, f)
	} else if len(o.Functions) > 0 {
		return nil, optErr("Functions are registered on the default fn driver; register them on the fn driver you passed instead")
	}
	material, err := o.TLS.loadMaterial()
	if err != nil {
		return nil, err
	}
	var rpcTLS *tcp.Material
	if o.TLS.enabled() && o.TLS.RPC {
		rpcTLS = material
	}
	tr, err := secureTransport(o.Transport, rpcTLS, 0, 0)
	if err != nil {
		return nil, err
	}
	var drain *client.DrainConfig
	if d := o.DrainOnShutdown; d != nil {
		drain = &client.DrainConfig{Deadline: d.Deadline, IgnoreSystemJobs: d.IgnoreSystemJobs}
		if d.Force {
			drain.Deadline = 0
		}
	}
	var vols map[string]client.HostVolume
	for name, v := range o.HostVolumes {
		if vols == nil {
			vols = map[string]client.HostVolume{}
		}
		vols[name] = client.HostVolume{Path: v.Path, ReadOnly: v.ReadOnly}
	}
	c, err := client.New(client.Config{
		HostVolumes:      vols,
		Name:             o.Name,
		Region:           o.Region,
		Datacenter:       o.Datacenter,
		NodeClass:        o.NodeClass,
		Meta:             o.Meta,
		DataDir:          o.DataDir,
		Servers:          slices.Clone(o.Servers),
		Transport:        tr,
		VerifyServerName: rpcTLS != nil && o.TLS.VerifyServerHostname,
		Drivers:          drivers,
		Fingerprinters:   o.Fingerprinters,
		Logger:           o.Logger,
		Registerer:       o.Registerer,
		Clock:            o.Clock,

		StopOnShutdown:   stopOnShutdown,
		DrainOnShutdown:  drain,
		LeaveOnInterrupt: o.LeaveOnInterrupt,
		LeaveOnTerminate: o.LeaveOnTerminate,
	})
	if err != nil {
		return nil, err
	}
	return &Client{cli: c, tls: material, tlsOpts: o.TLS}, nil
}
