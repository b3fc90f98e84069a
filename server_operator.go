package drover

import (
	"context"

	"github.com/droverhq/drover/server"
	"github.com/droverhq/drover/structs"
)

// Results and settings of the operator's calls, under the names a user of
// the package writes.
type (
	// JobPlan is what registering a job would do, as PlanJob reports it.
	JobPlan = server.JobPlan
	// RegisterOptions refine a registration: EnforceIndex makes it a
	// check-and-set on the job's modify index.
	RegisterOptions = server.RegisterOptions
	// AutopilotConfiguration is the replicated autopilot configuration.
	AutopilotConfiguration = structs.AutopilotConfiguration
	// OperatorHealth is the health of the servers as autopilot sees it.
	OperatorHealth = server.OperatorHealth
)

// ValidateJob checks a job as RegisterJob would, without registering it:
// nil, or a *ValidationError listing every problem.
func (s *Server) ValidateJob(ctx context.Context, job *Job) error { return s.srv.ValidateJob(ctx, job) }

// PlanJob runs the job's scheduler on the current state as if the job were
// registered, and reports what it would do (the diff with the stored job,
// the placements and their failures); it writes nothing.
func (s *Server) PlanJob(ctx context.Context, job *Job) (*JobPlan, error) {
	return s.srv.PlanJob(ctx, job)
}

// RegisterJobWithOptions is RegisterJob with options, such as a
// check-and-set on the job's modify index (opts.EnforceIndex).
func (s *Server) RegisterJobWithOptions(ctx context.Context, job *Job, opts RegisterOptions) (*JobRegisterResponse, error) {
	return s.srv.RegisterJobWithOptions(ctx, job, opts)
}

// EvaluateJob creates an evaluation of a job (nomad job eval); with
// forceReschedule, its failed allocations are rescheduled at once.
func (s *Server) EvaluateJob(ctx context.Context, namespace, jobID string, forceReschedule bool) (evalID string, index uint64, err error) {
	return s.srv.EvaluateJob(ctx, namespace, jobID, forceReschedule)
}

// StopAllocation stops an allocation and lets the scheduler replace it
// (nomad alloc stop); it returns the evaluation that does.
func (s *Server) StopAllocation(ctx context.Context, allocID string) (evalID string, index uint64, err error) {
	return s.srv.StopAllocation(ctx, allocID)
}

// RestartAllocation restarts one task of an allocation, or with allTasks
// every task, on the client that runs it (nomad alloc restart).
func (s *Server) RestartAllocation(ctx context.Context, allocID, task string, allTasks bool) error {
	return s.srv.AllocRestart(ctx, allocID, task, allTasks)
}

// SignalAllocation sends a signal to one task of an allocation, or every
// task when task is "", on the client that runs it (nomad alloc signal).
func (s *Server) SignalAllocation(ctx context.Context, allocID, task, signal string) error {
	return s.srv.AllocSignal(ctx, allocID, task, signal)
}

// UpdateNodeMeta sets and removes keys of a node's dynamic metadata,
// through raft (nomad node meta apply).
func (s *Server) UpdateNodeMeta(ctx context.Context, nodeID string, set map[string]string, unset []string) (uint64, error) {
	return s.srv.UpdateNodeMeta(ctx, nodeID, set, unset)
}

// PurgeNode removes a node from the state (nomad node purge); its
// allocations are rescheduled by the evaluations it returns.
func (s *Server) PurgeNode(ctx context.Context, nodeID string) (evalIDs []string, index uint64, err error) {
	return s.srv.PurgeNode(ctx, nodeID)
}

// TransferLeadership hands the leadership to another voter, named by hex
// raft id or RPC address; with neither, to the most up-to-date voter.
func (s *Server) TransferLeadership(ctx context.Context, id, address string) error {
	return s.srv.TransferLeadership(ctx, id, address)
}

// AutopilotConfiguration reads the replicated autopilot configuration.
func (s *Server) AutopilotConfiguration(ctx context.Context) (*AutopilotConfiguration, error) {
	return s.srv.AutopilotConfiguration(ctx)
}

// SetAutopilotConfiguration replaces the autopilot configuration; with
// cas, only if its modify index is still casIndex.
func (s *Server) SetAutopilotConfiguration(ctx context.Context, c *AutopilotConfiguration, cas bool, casIndex uint64) (updated bool, index uint64, err error) {
	return s.srv.SetAutopilotConfiguration(ctx, c, cas, casIndex)
}

// AutopilotHealth reports the health of every server of the region.
func (s *Server) AutopilotHealth(ctx context.Context) (*OperatorHealth, error) {
	return s.srv.AutopilotHealth(ctx)
}

// ReconcileJobSummaries rebuilds every job's summary from the state,
// through raft (nomad system reconcile summaries).
func (s *Server) ReconcileJobSummaries(ctx context.Context) (uint64, error) {
	return s.srv.ReconcileJobSummaries(ctx)
}

// Servers lists the server addresses the client knows (nomad node config
// -servers).
func (c *Client) Servers() []string { return c.cli.Servers() }

// SetServers replaces the server addresses the client uses.
func (c *Client) SetServers(addrs []string) error { return c.cli.SetServers(addrs) }

// HoldsNodeConnection reports whether the client of a node keeps its
// connection to this server: the server through which the node's
// allocations are reached (logs, files, exec).
func (s *Server) HoldsNodeConnection(nodeID string) bool { return s.srv.HoldsNodeConnection(nodeID) }
