package drover

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

// The results of job writes, under the names a user of the package writes.
type (
	// JobRegisterResponse is what RegisterJob committed: the evaluation
	// that schedules the job (EvalId) and the job's modify index.
	JobRegisterResponse = structs.JobRegisterResponse
	// JobDeregisterResponse is what DeregisterJob committed: the
	// evaluation that stops the job's allocations (EvalId).
	JobDeregisterResponse = structs.JobDeregisterResponse
)

// RegisterJob validates a job and commits it with an evaluation that
// schedules it. An invalid job is rejected whole (a *ValidationError,
// matching ErrValidation, listing every problem) and changes nothing.
//
// Updating a job is registering it again: change a copy of the job
// (CloneJob of what Job returned, or the host's own definition) and pass it
// to RegisterJob. A change to what its tasks run makes a new version of the
// job (JobVersions) whose allocations replace the old ones; a change of
// Count alone only adds or stops allocations.
func (s *Server) RegisterJob(ctx context.Context, job *Job) (*JobRegisterResponse, error) {
	return s.srv.RegisterJob(ctx, job)
}

// DeregisterJob stops a job (or, with purge, removes it) and schedules the
// stopping of its allocations. namespace "" is the default namespace.
func (s *Server) DeregisterJob(ctx context.Context, namespace, jobID string, purge bool) (*JobDeregisterResponse, error) {
	return s.srv.DeregisterJob(ctx, namespace, jobID, purge)
}

// Job reads one job; namespace "" is the default namespace. The job is
// shared with the server's state: read it, or CloneJob it to change it.
func (s *Server) Job(ctx context.Context, namespace, jobID string) (*Job, error) {
	return s.srv.Job(ctx, namespace, jobID)
}

// Jobs lists the jobs of a namespace ("" for all) whose id has prefix.
func (s *Server) Jobs(ctx context.Context, namespace, prefix string) ([]*Job, error) {
	return s.srv.Jobs(ctx, namespace, prefix)
}

// JobsWithSummaries is Jobs with the allocation summary of each listed job
// that has one, in the same order, read from the same state. Summaries are
// kept as allocations change, so the list costs O(jobs), however many
// allocations they have.
func (s *Server) JobsWithSummaries(ctx context.Context, namespace, prefix string) ([]*Job, []*JobSummary, error) {
	return s.srv.JobsWithSummaries(ctx, namespace, prefix)
}

// JobVersions lists the kept versions of a job (ServerOptions.JobTrackedVersions
// of them), newest first.
func (s *Server) JobVersions(ctx context.Context, namespace, jobID string) ([]*Job, error) {
	return s.srv.JobVersions(ctx, namespace, jobID)
}

// Allocation reads one allocation.
func (s *Server) Allocation(ctx context.Context, id string) (*Allocation, error) {
	return s.srv.Allocation(ctx, id)
}

// Allocations lists the allocations of a job (jobID set; namespace "" is
// the default namespace), of a node (nodeID set), or, both empty, all of
// them. WatchAllocations follows a job's allocations as they change.
func (s *Server) Allocations(ctx context.Context, namespace, jobID, nodeID string) ([]*Allocation, error) {
	return s.srv.Allocations(ctx, namespace, jobID, nodeID)
}

// Evaluation reads one evaluation, such as the one RegisterJob returned.
func (s *Server) Evaluation(ctx context.Context, id string) (*Evaluation, error) {
	return s.srv.Evaluation(ctx, id)
}

// Evaluations lists a job's evaluations.
func (s *Server) Evaluations(ctx context.Context, namespace, jobID string) ([]*Evaluation, error) {
	return s.srv.Evaluations(ctx, namespace, jobID)
}

// ListEvaluations lists the evaluations of a namespace ("" for all) whose
// id starts with prefix, sorted by id.
func (s *Server) ListEvaluations(ctx context.Context, namespace, prefix string) ([]*Evaluation, error) {
	return s.srv.ListEvaluations(ctx, namespace, prefix)
}

// Node reads one client node, without its secret id.
func (s *Server) Node(ctx context.Context, id string) (*Node, error) {
	return s.srv.Node(ctx, id)
}

// Nodes lists every client node, without their secret ids.
func (s *Server) Nodes(ctx context.Context) ([]*Node, error) {
	return s.srv.Nodes(ctx)
}

// UpdateNodeEligibility makes a node eligible or ineligible for new
// placements; allocations already on the node keep running. A node that
// becomes eligible gets evaluations (evalIDs) for the jobs that might use
// it. A draining node cannot be made eligible: cancel the drain instead.
// index is the raft index of the write.
func (s *Server) UpdateNodeEligibility(ctx context.Context, nodeID string, eligible bool) (index uint64, evalIDs []string, err error) {
	e := NodeIneligible
	if eligible {
		e = NodeEligible
	}
	resp, err := s.srv.UpdateNodeEligibility(ctx, nodeID, e)
	if err != nil {
		return 0, nil, err
	}
	return resp.GetMeta().GetIndex(), resp.EvalIds, nil
}

// NodeDrain says how an operator drains a node (Server.UpdateNodeDrain).
type NodeDrain struct {
	// Deadline bounds the drain: once it passes, the allocations still on
	// the node are stopped. Zero means no deadline; negative stops them
	// all at once (Nomad's -no-deadline and -force).
	Deadline time.Duration
	// IgnoreSystemJobs leaves system jobs' allocations running.
	IgnoreSystemJobs bool
}

// UpdateNodeDrain starts an operator's drain of a node (drain set) or ends
// one (drain nil). Starting one makes the node ineligible for new work and
// has the leader migrate the node's allocations to other nodes, stopping
// what is left at the deadline. Ending one leaves the node ineligible
// unless markEligible. It returns once the drain is recorded (at the raft
// index returned), not when it is done; the node's DrainStrategy is nil
// again once it is. A client drains its own node with Client.Drain.
func (s *Server) UpdateNodeDrain(ctx context.Context, nodeID string, drain *NodeDrain, markEligible bool) (uint64, error) {
	var strategy *structs.DrainStrategy
	if drain != nil {
		strategy = &structs.DrainStrategy{Deadline: durationpb.New(drain.Deadline), IgnoreSystemJobs: drain.IgnoreSystemJobs}
	}
	return s.srv.UpdateNodeDrain(ctx, nodeID, "", strategy, markEligible)
}
