package server

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// prepareJob canonicalizes and validates a copy of a submitted job, and
// clears the fields the FSM owns.
func (s *Server) prepareJob(job *structs.Job) (*structs.Job, error) {
	job = proto.Clone(job).(*structs.Job)
	job.Canonicalize(int32(s.cfg.JobDefaultPriority))
	if job.Region == "" {
		job.Region = s.cfg.Region
	}
	if err := job.Validate(structs.Limits{MaxPriority: int32(s.cfg.JobMaxPriority), JobTypes: s.jobTypes(), MaxCount: s.cfg.JobMaxCount}); err != nil {
		return nil, err
	}
	// Server-owned fields are set by the FSM, never taken from the caller.
	job.Status, job.Version, job.CreateIndex, job.ModifyIndex, job.JobModifyIndex = "", 0, 0, 0, 0
	job.Stable = false
	// So are a child's: children are made by the server only.
	job.ParentId, job.Dispatched, job.Payload, job.DispatchIdempotencyToken = "", false, nil, ""
	return job, nil
}

// checkJobIndex decides a conditional upsert against the stored job (nil
// when there is none), in Nomad's words.
func checkJobIndex(c *structs.JobUpsert, cur *structs.Job) error {
	if !c.EnforceIndex {
		return nil
	}
	want := c.JobModifyIndex
	switch {
	case want == 0 && cur != nil:
		return fmt.Errorf("%w: enforcing job modify index 0: job already exists", ErrBadRequest)
	case want != 0 && cur == nil:
		return fmt.Errorf("%w: enforcing job modify index %d: job does not exist", ErrBadRequest, want)
	case cur != nil && cur.JobModifyIndex != want:
		return fmt.Errorf("%w: enforcing job modify index %d: job exists with conflicting job modify index: %d",
			ErrBadRequest, want, cur.JobModifyIndex)
	}
	return nil
}

// ValidateJob checks a job as registration would, without registering it:
// nil, or a *structs.ValidationError listing every problem.
func (s *Server) ValidateJob(ctx context.Context, job *structs.Job) error {
	if job == nil {
		return &structs.ValidationError{Problems: []string{"job is missing"}}
	}
	if err := s.allowNamespace(ctx, job.Namespace, acl.NamespaceCapabilityReadJob); err != nil {
		return err
	}
	_, err := s.prepareJob(job)
	return err
}

// JobPlan is the outcome of a dry run of a job's registration.
type JobPlan struct {
	// Job is the job as it would be stored; Current is the stored one, nil
	// when there is none.
	Job, Current *structs.Job
	// JobModifyIndex is the stored job's (0 when there is none): register
	// with it as the enforced index to register only what was planned.
	JobModifyIndex uint64
	// Index is the state index the plan was made on.
	Index uint64
	// Updates counts per task group what the scheduler would do.
	Updates map[string]*scheduler.DesiredUpdates
	// FailedTGAllocs explains per task group the placements that would fail.
	FailedTGAllocs map[string]*structs.AllocMetric
	// Preempted are the other jobs' allocations that would be evicted.
	Preempted []*structs.Allocation
	// NextPeriodicLaunch is when a periodic job would next launch (zero
	// for other jobs, or a disabled schedule).
	NextPeriodicLaunch time.Time
}

// PlanJob runs the job type's scheduler on a snapshot of the state as if
// the job were registered, and reports what it would do. Nothing is
// written: no raft entry, no evaluation.
func (s *Server) PlanJob(ctx context.Context, job *structs.Job) (*JobPlan, error) {
	if job == nil {
		return nil, &structs.ValidationError{Problems: []string{"job is missing"}}
	}
	if err := s.allowNamespace(ctx, job.Namespace, acl.NamespaceCapabilitySubmitJob, acl.NamespaceCapabilityPlanJob); err != nil {
		return nil, err
	}
	job, err := s.prepareJob(job)
	if err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	snap := s.state.Snapshot()
	cur := snap.Job(job.Namespace, job.Id)
	next := snap.Index() + 1
	switch {
	case cur == nil:
		job.CreateIndex, job.JobModifyIndex = next, next
	case structs.SpecEqual(cur, job):
		job.CreateIndex, job.Version, job.JobModifyIndex = cur.CreateIndex, cur.Version, cur.JobModifyIndex
	default:
		job.CreateIndex, job.Version, job.JobModifyIndex = cur.CreateIndex, cur.Version+1, next
	}
	job.ModifyIndex = next
	sched, err := s.schedulerFor(job.Type)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	eval := newEval(job, structs.EvalTriggerJobRegister)
	eval.JobModifyIndex, eval.CreateIndex, eval.ModifyIndex = job.JobModifyIndex, next, next
	d, err := runScheduler(sched, planState{Snapshot: snap, job: job}, scheduler.Input{
		Eval: eval, Now: s.cfg.Clock(), NewID: newUUID, Config: snap.SchedulerConfig(),
		Interrupt: func() bool { return ctx.Err() != nil },
	})
	if err != nil {
		return nil, fmt.Errorf("plan job %s: %w", structs.Quote(job.Id), err)
	}
	current := snap.AllocsByJob(job.Namespace, job.Id)
	out := &JobPlan{
		Job: job, Current: cur, JobModifyIndex: cur.GetJobModifyIndex(), Index: snap.Index(),
		Updates: scheduler.DesiredUpdatesOf(d, job, current), FailedTGAllocs: d.FailedTGAllocs,
	}
	if d.Plan != nil {
		out.Preempted = d.Plan.NodePreemptions
	}
	if p := job.Periodic; p != nil && !p.Disabled {
		out.NextPeriodicLaunch, _ = p.Next(s.cfg.Clock())
	}
	return out, nil
}

// planState is a snapshot in which the planned job is already stored.
type planState struct {
	*state.Snapshot
	job *structs.Job
}

// Job implements scheduler.State.
func (p planState) Job(namespace, id string) *structs.Job {
	if namespace == p.job.Namespace && id == p.job.Id {
		return p.job
	}
	return p.Snapshot.Job(namespace, id)
}
