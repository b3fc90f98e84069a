package api

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/structs"
)

// OperatorBackend serves the operator's everyday commands beyond reads and
// registrations: plans and validation, evaluations, node metadata and
// purges, snapshots, raft and gossip membership, autopilot, summaries.
type OperatorBackend interface {
	// ValidateJob checks a job as registration would; a
	// *structs.ValidationError lists every problem.
	ValidateJob(ctx context.Context, job *structs.Job) error
	// PlanJob is a dry run of the job's registration: no write.
	PlanJob(ctx context.Context, job *structs.Job) (*JobPlan, error)
	// RegisterJobIfIndex registers job only if its current JobModifyIndex
	// is index (0: only if no such job exists), decided atomically.
	RegisterJobIfIndex(ctx context.Context, job *structs.Job, index uint64) (*structs.JobRegisterResponse, error)
	// EvaluateJob creates a new evaluation of a job.
	EvaluateJob(ctx context.Context, namespace, jobID string, forceReschedule bool) (evalID string, index uint64, err error)
	// UpdateNodeMeta sets and removes keys of a node's dynamic metadata.
	UpdateNodeMeta(ctx context.Context, nodeID string, set map[string]string, unset []string) (uint64, error)
	// PurgeNode removes a node from the state.
	PurgeNode(ctx context.Context, nodeID string) (NodeUpdate, error)
	// Backup writes the cluster state to w and returns its index.
	Backup(ctx context.Context, w io.Writer) (uint64, error)
	// Restore replaces the cluster state with a backup.
	Restore(ctx context.Context, r io.Reader) (uint64, error)
	// RemoveRaftPeer removes a server from the raft peer set by hex raft
	// id or RPC address.
	RemoveRaftPeer(ctx context.Context, id, address string) error
	// TransferLeadership hands leadership to the server of that raft id
	// or address.
	TransferLeadership(ctx context.Context, id, address string) error
	// ForceLeave marks a failed server of the gossip pool as left.
	ForceLeave(ctx context.Context, name string) error
	// Join joins the gossip pools at addrs; it returns how many it reached.
	Join(ctx context.Context, addrs []string) (int, error)
	// Keyring runs a gossip keyring operation: "list", "install", "use"
	// or "remove".
	Keyring(ctx context.Context, op, key string) (*KeyringResult, error)
	AutopilotConfiguration(ctx context.Context) (AutopilotConfiguration, error)
	// SetAutopilotConfiguration replaces the configuration; with cas set,
	// only if its ModifyIndex still equals *cas.
	SetAutopilotConfiguration(ctx context.Context, cfg AutopilotConfiguration, cas *uint64) (bool, uint64, error)
	ServerHealth(ctx context.Context) (*OperatorHealth, error)
	// ReconcileSummaries rebuilds every job summary.
	ReconcileSummaries(ctx context.Context) (uint64, error)
}

// JobPlan is the outcome of a job plan.
type JobPlan struct {
	// Job is the job as it would be stored; Current the stored one (nil
	// when none).
	Job, Current *structs.Job
	// JobModifyIndex is the stored job's (0 when none).
	JobModifyIndex uint64
	// Updates counts per task group what the scheduler would do.
	Updates map[string]*scheduler.DesiredUpdates
	// FailedTGAllocs explains the placements that would fail.
	FailedTGAllocs map[string]*structs.AllocMetric
	// Preempted lists the allocations that would be evicted.
	Preempted []*structs.Allocation
	// NextPeriodicLaunch is a periodic job's next launch; zero otherwise.
	NextPeriodicLaunch time.Time
}

// KeyringResult is what a gossip keyring operation found on the servers.
type KeyringResult struct {
	Keys, PrimaryKeys map[string]int
	Servers, Errors   int
	Messages          map[string]string
}

// AutopilotConfiguration is the operator's autopilot settings.
type AutopilotConfiguration struct {
	CleanupDeadServers      bool
	LastContactThreshold    time.Duration
	MaxTrailingLogs         uint64
	MinQuorum               uint
	ServerStabilizationTime time.Duration
	CreateIndex             uint64
	ModifyIndex             uint64
}

// ServerHealth is one server's health.
type ServerHealth struct {
	ID, Name, Address, SerfStatus, Version string
	Leader, Voter, Healthy                 bool
	LastContact                            time.Duration
	LastTerm, LastIndex                    uint64
	StableSince                            time.Time
}

// OperatorHealth is the health of the region's servers.
type OperatorHealth struct {
	Healthy          bool
	FailureTolerance int
	Servers          []ServerHealth
}

// ClientAgent is the client the agent serving the API runs, if any.
type ClientAgent interface {
	// NodeID is the id of the client's node.
	NodeID() string
	// Servers lists the server RPC addresses the client knows.
	Servers() []string
	// SetServers replaces the client's servers.
	SetServers(addrs []string) error
}

// LogStream is the agent's log, which /v1/agent/monitor streams.
type LogStream interface {
	// Subscribe streams the records at level or above, each formatted as
	// a line of JSON or text, until cancel is called. A subscriber that
	// falls behind loses lines, never blocking the logger.
	Subscribe(level slog.Level, json bool) (lines <-chan []byte, cancel func())
}
