// Package api serves a subset of Nomad's HTTP API (/v1) on top of a drover
// server, in the JSON shapes Nomad uses, so that Nomad's own tools and its
// Go client can drive a drover control plane.
//
// A host mounts the handler returned by drover's Server.HTTPHandler, or
// builds one with NewHandler around anything that implements Backend.
package api

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/events"
	"github.com/droverhq/drover/structs"
)

// ErrNotImplemented is returned by a Backend for an operation the server
// does not support yet; the handler answers it with HTTP 501.
var ErrNotImplemented = errors.New("not implemented by this server")

// Backend is what the handlers need from a server.
type Backend interface {
	StateBackend
	JobBackend
	NodeBackend
	ClusterBackend
	ACLBackend
	OperatorBackend
	// ClientBackend reaches the clients holding allocations.
	ClientBackend
	AllocStopper
	DeploymentBackend
	ServiceBackend
	VariableBackend
	KeyringBackend
	BatchBackend
	// Events subscribes to the server's event stream.
	Events(ctx context.Context, req events.SubscribeRequest) (*events.Subscription, error)
}

// StateBackend tells the index of the state reads see, and waits for it
// to move: the base of blocking queries.
type StateBackend interface {
	// StateIndex is the raft index of the latest change applied.
	StateIndex() uint64
	// WaitForIndex blocks until the index exceeds min or ctx is done, and
	// returns the index seen.
	WaitForIndex(ctx context.Context, min uint64) uint64
	// KnownLeader reports whether the server knows a cluster leader.
	KnownLeader() bool
	// LastContact is how long ago the server last heard from the leader (0
	// on the leader).
	LastContact() time.Duration
	// PrepareRead readies this server for a read. Unless stale, it waits
	// until the server has applied every write acknowledged before the
	// call (or fails with structs.ErrNoLeader). The backend's reads under
	// the returned context are served from local state without waiting
	// again.
	PrepareRead(ctx context.Context, stale bool) (context.Context, error)
	// InRegion returns a context under which the backend's calls go to the
	// servers of another region of the federation.
	InRegion(ctx context.Context, region string) context.Context
	// WithToken returns a context under which the backend's calls act as
	// the caller whose ACL token secret is secret ("" is anonymous).
	WithToken(ctx context.Context, secret string) context.Context
	// CallerACL resolves the caller of ctx to what it may do, for the
	// endpoints the handler checks itself (agent and member reads).
	CallerACL(ctx context.Context) (*acl.ACL, error)
}

// JobBackend registers and reads jobs, their allocations and evaluations.
type JobBackend interface {
	RegisterJob(ctx context.Context, job *structs.Job) (*structs.JobRegisterResponse, error)
	DeregisterJob(ctx context.Context, namespace, jobID string, purge bool) (*structs.JobDeregisterResponse, error)
	Job(ctx context.Context, namespace, jobID string) (*structs.Job, error)
	// JobsWithSummaries lists the jobs of a namespace ("" for all) whose id
	// has prefix, with the allocation summary of each listed job that has
	// one, read from the same state. It should cost O(jobs): the job list
	// calls it.
	JobsWithSummaries(ctx context.Context, namespace, prefix string) ([]*structs.Job, []*structs.JobSummary, error)
	// JobVersions lists the versions of a job kept by the server, newest first.
	JobVersions(ctx context.Context, namespace, jobID string) ([]*structs.Job, error)
	// Allocations lists allocations of a job, of a node, or (both empty) all.
	Allocations(ctx context.Context, namespace, jobID, nodeID string) ([]*structs.Allocation, error)
	Allocation(ctx context.Context, id string) (*structs.Allocation, error)
	// Evaluations lists a job's evaluations.
	Evaluations(ctx context.Context, namespace, jobID string) ([]*structs.Evaluation, error)
	// ListEvaluations lists evaluations of a namespace ("" for all) whose id has prefix.
	ListEvaluations(ctx context.Context, namespace, prefix string) ([]*structs.Evaluation, error)
	Evaluation(ctx context.Context, id string) (*structs.Evaluation, error)
}

// NodeUpdate is the outcome of a write to a node.
type NodeUpdate struct {
	// Index is the raft index of the write.
	Index uint64
	// EvalIDs are the evaluations the write created.
	EvalIDs []string
}

// DrainSpec says how to drain a node; nil cancels a drain.
type DrainSpec struct {
	// Deadline bounds the drain, as in Nomad: zero means no deadline, a
	// negative one forces the drain (everything stops at once).
	Deadline time.Duration
	// IgnoreSystemJobs leaves system jobs running on the node.
	IgnoreSystemJobs bool
}

// NodeBackend reads nodes and changes their scheduling.
type NodeBackend interface {
	Nodes(ctx context.Context) ([]*structs.Node, error)
	Node(ctx context.Context, id string) (*structs.Node, error)
	// UpdateNodeEligibility sets "eligible" or "ineligible".
	UpdateNodeEligibility(ctx context.Context, nodeID, eligibility string) (NodeUpdate, error)
	// UpdateNodeDrain starts (spec set) or cancels (nil) a drain.
	UpdateNodeDrain(ctx context.Context, nodeID string, spec *DrainSpec, markEligible bool, meta map[string]string) (NodeUpdate, error)
}

// AgentInfo describes the server answering the request.
type AgentInfo struct {
	Name       string
	Region     string
	Datacenter string
	// Addr is the server's advertised RPC address (host:port).
	Addr    string
	Version string
	// RaftTerm and RaftAppliedIndex describe the server's raft state.
	RaftTerm, RaftAppliedIndex uint64
	// KnownRegions is how many regions the server knows of.
	KnownRegions int
	// Server and Client say which roles the agent runs.
	Server, Client bool
	// Config holds further settings shown by /v1/agent/self.
	Config map[string]any
}

// Member is one server as cluster membership knows it.
type Member struct {
	Name   string
	Addr   string
	Port   int
	Status string
	Tags   map[string]string
}

// RaftServer is one server of the raft configuration.
type RaftServer struct {
	ID, Node, Address string
	Leader, Voter     bool
}

// RaftConfiguration is the raft peer set.
type RaftConfiguration struct {
	Servers []RaftServer
	Index   uint64
}

// SchedulerConfiguration is the cluster-wide scheduler configuration, in
// the shape of Nomad's API.
type SchedulerConfiguration struct {
	SchedulerAlgorithm            string
	PreemptionConfig              PreemptionConfig
	MemoryOversubscriptionEnabled bool
	RejectJobRegistration         bool
	PauseEvalBroker               bool
	CreateIndex                   uint64
	ModifyIndex                   uint64
}

// PreemptionConfig enables preemption per scheduler type.
type PreemptionConfig struct {
	SystemSchedulerEnabled   bool
	SysBatchSchedulerEnabled bool
	BatchSchedulerEnabled    bool
	ServiceSchedulerEnabled  bool
}

// ClusterBackend answers the status, agent and operator endpoints.
type ClusterBackend interface {
	Self() AgentInfo
	// LeaderAddr is the leader's RPC address, or "" when none is known.
	LeaderAddr() string
	// Peers lists the RPC addresses of the raft voters.
	Peers(ctx context.Context) ([]string, error)
	Members(ctx context.Context) ([]Member, error)
	RaftConfiguration(ctx context.Context) (RaftConfiguration, error)
	Regions(ctx context.Context) ([]string, error)
	SchedulerConfiguration(ctx context.Context) (SchedulerConfiguration, error)
	// SetSchedulerConfiguration replaces the configuration; with cas set, only
	// if its ModifyIndex still equals *cas. It reports whether it changed.
	SetSchedulerConfiguration(ctx context.Context, cfg SchedulerConfiguration, cas *uint64) (updated bool, index uint64, err error)
	// GarbageCollect runs a forced garbage collection.
	GarbageCollect(ctx context.Context) error
	// Gatherer serves /v1/metrics; nil when the host kept no registry.
	Gatherer() prometheus.Gatherer
}
