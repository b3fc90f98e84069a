package server

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// RegisterJob validates a job and commits it with an evaluation that
// schedules it. An invalid job is rejected whole (a *structs.ValidationError
// listing every problem) and changes nothing.
func (s *Server) RegisterJob(ctx context.Context, job *structs.Job) (*structs.JobRegisterResponse, error) {
	return s.RegisterJobWithOptions(ctx, job, RegisterOptions{})
}

// RegisterOptions make a registration conditional.
type RegisterOptions struct {
	// EnforceIndex registers the job only if its current JobModifyIndex
	// equals JobModifyIndex (0: only if no such job exists), decided
	// atomically as the raft entry applies (nomad job run -check-index).
	EnforceIndex   bool
	JobModifyIndex uint64
}

// RegisterJobWithOptions is RegisterJob with a check-and-set condition. A
// registration whose condition fails changes nothing and returns an error
// matching ErrBadRequest that names both indexes, as Nomad words it.
func (s *Server) RegisterJobWithOptions(ctx context.Context, job *structs.Job, opts RegisterOptions) (*structs.JobRegisterResponse, error) {
	if job == nil {
		return nil, &structs.ValidationError{Problems: []string{"job is missing"}}
	}
	if err := s.allowNamespace(ctx, job.Namespace, acl.NamespaceCapabilitySubmitJob, acl.NamespaceCapabilityRegisterJob); err != nil {
		return nil, err
	}
	if r := s.otherRegion(ctx, job.Region); r != "" {
		return toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.JobRegisterResponse, error) {
			return c.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job, Region: r,
				EnforceIndex: opts.EnforceIndex, JobModifyIndex: opts.JobModifyIndex})
		})
	}
	if s.registrationRejected() {
		return nil, fmt.Errorf("%w: the scheduler configuration rejects job registrations", structs.ErrRegistrationRejected)
	}
	job, err := s.prepareJob(job)
	if err != nil {
		return nil, err
	}
	var resp *structs.JobRegisterResponse
	err = s.leaderCall(ctx, func(ctx context.Context) error {
		eval := newEval(job, structs.EvalTriggerJobRegister)
		if job.IsParent() && len(s.state.Snapshot().AllocsByJob(job.Namespace, job.Id)) == 0 {
			// A periodic or parameterized job places nothing: no
			// evaluation, as in Nomad (its children get theirs).
			eval = nil
		}
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{
			Command: &structs.LogCommand_JobUpsert{JobUpsert: &structs.JobUpsert{
				Job: job, Eval: eval, TrackedVersions: s.trackedVersions(),
				EnforceIndex: opts.EnforceIndex, JobModifyIndex: opts.JobModifyIndex,
			}},
		})
		if err != nil {
			return err
		}
		s.metrics.jobsRegistered.Inc()
		resp = &structs.JobRegisterResponse{EvalId: eval.GetId(), JobModifyIndex: idx, Meta: &structs.WriteMeta{Index: idx}}
		return nil
	}, func(ctx context.Context, c structs.DroverClient) (err error) {
		resp, err = c.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job,
			EnforceIndex: opts.EnforceIndex, JobModifyIndex: opts.JobModifyIndex})
		return err
	})
	return resp, err
}

// DeregisterJob stops a job (or, with purge, removes it) and schedules the
// stopping of its allocations.
func (s *Server) DeregisterJob(ctx context.Context, namespace, jobID string, purge bool) (*structs.JobDeregisterResponse, error) {
	if namespace == "" {
		namespace = structs.DefaultNamespace
	}
	capability := acl.NamespaceCapabilityDeregisterJob
	if purge {
		capability = acl.NamespaceCapabilityPurgeJob
	}
	if err := s.allowNamespace(ctx, namespace, acl.NamespaceCapabilitySubmitJob, capability); err != nil {
		return nil, err
	}
	if r := s.otherRegion(ctx, ""); r != "" {
		return toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.JobDeregisterResponse, error) {
			return c.DeregisterJob(ctx, &structs.JobDeregisterRequest{Namespace: namespace, JobId: jobID, Purge: purge})
		})
	}
	var resp *structs.JobDeregisterResponse
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		// Whether the job exists is decided as the entry applies, not here:
		// this server's view could be behind a leader elected meanwhile.
		eval := &structs.Evaluation{Id: uuid.NewString(), TriggeredBy: structs.EvalTriggerJobDeregister, Status: structs.EvalStatusPending}
		idx, err := s.raft.Propose(ctx, &structs.LogCommand{
			Command: &structs.LogCommand_JobDelete{JobDelete: &structs.JobDelete{
				Namespace: namespace, JobId: jobID, Purge: purge, Eval: eval, TrackedVersions: s.trackedVersions(),
			}},
		})
		if err != nil {
			return err
		}
		resp = &structs.JobDeregisterResponse{EvalId: eval.Id, Meta: &structs.WriteMeta{Index: idx}}
		return nil
	}, func(ctx context.Context, c structs.DroverClient) (err error) {
		resp, err = c.DeregisterJob(ctx, &structs.JobDeregisterRequest{Namespace: namespace, JobId: jobID, Purge: purge})
		return err
	})
	return resp, err
}

// Reads (Job, Jobs, Allocations, Nodes, Evaluation, Evaluations) are
// served by whichever server receives them. By default they first make
// sure this server has applied every write acknowledged before the read
// (raft ReadIndex through the leader); under AllowStale they read the
// local state at once. Without a quorum a default read fails with
// ErrNoLeader after the leader wait.

// Job reads one job.
func (s *Server) Job(ctx context.Context, namespace, jobID string) (*structs.Job, error) {
	if err := s.allowNamespace(ctx, namespace, acl.NamespaceCapabilityReadJob); err != nil {
		return nil, err
	}
	if r := s.otherRegion(ctx, ""); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.SingleJobResponse, error) {
			return c.GetJob(ctx, &structs.JobSpecificRequest{JobId: jobID, Options: remoteQuery(ctx, r, namespace)})
		})
		return resp.GetJob(), err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	if namespace == "" {
		namespace = structs.DefaultNamespace
	}
	if j := s.job(namespace, jobID); j != nil {
		return j, nil
	}
	return nil, fmt.Errorf("%w: job %s in namespace %s", ErrNotFound, structs.Quote(jobID), structs.Quote(namespace))
}

// Jobs lists the jobs of a namespace ("" for all) whose id has prefix.
func (s *Server) Jobs(ctx context.Context, namespace, prefix string) ([]*structs.Job, error) {
	a, err := s.authorizeList(ctx, namespace, acl.NamespaceCapabilityListJobs)
	if err != nil {
		return nil, err
	}
	if r := s.otherRegion(ctx, ""); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.JobListResponse, error) {
			return c.ListJobs(ctx, &structs.JobListRequest{Prefix: prefix, Options: remoteQuery(ctx, r, namespace)})
		})
		return resp.GetJobs(), err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	return visible(a, acl.NamespaceCapabilityListJobs, s.state.Snapshot().Jobs(namespace, prefix)), nil
}

// Allocations lists allocations of a job, of a node, or (both empty) all.
func (s *Server) Allocations(ctx context.Context, namespace, jobID, nodeID string) ([]*structs.Allocation, error) {
	if jobID != "" && namespace == "" {
		namespace = structs.DefaultNamespace
	}
	a, err := s.authorizeList(ctx, namespace, acl.NamespaceCapabilityReadJob)
	if err != nil {
		return nil, err
	}
	if nodeID != "" && !a.AllowNodeRead() {
		return nil, errDenied("node read")
	}
	if r := s.otherRegion(ctx, ""); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.AllocListResponse, error) {
			return c.ListAllocations(ctx, &structs.AllocListRequest{JobId: jobID, NodeId: nodeID, Options: remoteQuery(ctx, r, namespace)})
		})
		return resp.GetAllocations(), err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	snap := s.state.Snapshot()
	var all []*structs.Allocation
	switch {
	case jobID != "" && nodeID != "":
		return nil, fmt.Errorf("%w: give a job id or a node id, not both", ErrBadRequest)
	case jobID != "":
		all = snap.AllocsByJob(namespace, jobID)
	case nodeID != "":
		all = snap.AllocsByNode(nodeID)
	default:
		all = snap.Allocs()
	}
	if namespace != "" && jobID == "" {
		all = slices.DeleteFunc(all, func(al *structs.Allocation) bool { return al.Namespace != namespace })
	}
	return visible(a, acl.NamespaceCapabilityReadJob, all), nil
}

// Nodes lists every node, without their secret ids.
func (s *Server) Nodes(ctx context.Context) ([]*structs.Node, error) {
	if err := s.allow(ctx, "node read", (*acl.ACL).AllowNodeRead); err != nil {
		return nil, err
	}
	if r := s.otherRegion(ctx, ""); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.NodeListResponse, error) {
			return c.ListNodes(ctx, &structs.NodeListRequest{Options: remoteQuery(ctx, r, "")})
		})
		return resp.GetNodes(), err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	nodes := s.state.Snapshot().Nodes()
	out := make([]*structs.Node, len(nodes))
	for i, n := range nodes {
		out[i] = redactNode(n)
	}
	return out, nil
}

// Evaluation reads one evaluation.
func (s *Server) Evaluation(ctx context.Context, id string) (*structs.Evaluation, error) {
	if r := s.otherRegion(ctx, ""); r != "" {
		resp, err := toRegion(s, ctx, r, func(ctx context.Context, c structs.DroverClient) (*structs.SingleEvalResponse, error) {
			return c.GetEvaluation(ctx, &structs.EvalSpecificRequest{EvalId: id, Options: remoteQuery(ctx, r, "")})
		})
		return resp.GetEval(), err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	var e *structs.Evaluation
	s.state.View(func(v *state.Snapshot) { e = v.Eval(id) })
	if e != nil {
		// The evaluation's own namespace decides, never the caller's.
		if err := s.allowNamespace(ctx, e.Namespace, acl.NamespaceCapabilityReadJob); err != nil {
			return nil, err
		}
		return e, nil
	}
	return nil, fmt.Errorf("%w: evaluation %s", ErrNotFound, structs.Quote(id))
}

// Evaluations lists a job's evaluations.
func (s *Server) Evaluations(ctx context.Context, namespace, jobID string) ([]*structs.Evaluation, error) {
	if namespace == "" {
		namespace = structs.DefaultNamespace
	}
	if err := s.allowNamespace(ctx, namespace, acl.NamespaceCapabilityReadJob); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	return s.state.Snapshot().EvalsByJob(namespace, jobID), nil
}

// StateIndex is the raft index of the latest change this server applied.
func (s *Server) StateIndex() uint64 { return s.state.Index() }

// WaitForIndex blocks until the applied index exceeds min, ctx is done or
// the server shuts down, and returns the index seen.
func (s *Server) WaitForIndex(ctx context.Context, min uint64) uint64 {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.stopCtx, cancel)
	defer stop()
	return s.state.WaitForIndex(ctx, min)
}

// blockingQuery waits, as a blocking read does, for the index to pass
// minIndex (0: not at all), at most wait (capped at maxBlockingQuery).
func (s *Server) blockingQuery(ctx context.Context, minIndex uint64, wait time.Duration) {
	if minIndex == 0 {
		return
	}
	if wait <= 0 || wait > maxBlockingQuery {
		wait = maxBlockingQuery
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	s.WaitForIndex(ctx, minIndex)
}

// job reads one job without copying the state.
func (s *Server) job(namespace, id string) *structs.Job {
	var j *structs.Job
	s.state.View(func(v *state.Snapshot) { j = v.Job(namespace, id) })
	return j
}

// node reads one node without copying the state.
func (s *Server) node(id string) *structs.Node {
	var n *structs.Node
	s.state.View(func(v *state.Snapshot) { n = v.Node(id) })
	return n
}

func redactNode(n *structs.Node) *structs.Node {
	c := proto.Clone(n).(*structs.Node)
	c.SecretId = ""
	return c
}

// newEval builds a pending evaluation of job.
func newEval(job *structs.Job, trigger string) *structs.Evaluation {
	return &structs.Evaluation{
		Id: uuid.NewString(), Namespace: job.Namespace, Priority: job.Priority, Type: job.Type,
		TriggeredBy: trigger, JobId: job.Id, Status: structs.EvalStatusPending,
	}
}
