// Package scheduler decides where allocations run. It is pure: a scheduler
// reads a state snapshot and an evaluation and returns a plan; it starts no
// goroutines and does no I/O, so it is tested without a cluster.
package scheduler

import (
	"fmt"
	"time"

	"github.com/droverhq/drover/structs"
)

// State is the read-only view of the cluster a scheduler works from.
type State interface {
	Index() uint64
	Job(namespace, id string) *structs.Job
	Nodes() []*structs.Node
	AllocsByJob(namespace, id string) []*structs.Allocation
	AllocsByNode(nodeID string) []*structs.Allocation
}

// Input is everything one scheduling pass needs besides the state.
type Input struct {
	Eval *structs.Evaluation
	// Now is the time recorded on new allocations.
	Now time.Time
	// NewID returns a fresh unique id for each new allocation.
	NewID func() string
}

// Decision is what a scheduler decided for one evaluation.
type Decision struct {
	// Plan holds the placements and stops; nil when nothing changes.
	Plan *structs.Plan
	// FailedTGAllocs explains, per task group, why some placements failed.
	FailedTGAllocs map[string]*structs.AllocMetric
	// QueuedAllocations counts, per task group, the placements still wanted.
	QueuedAllocations map[string]int32
}

// Blocked reports whether some placements could not be made, so the
// evaluation should wait for the cluster to change.
func (d *Decision) Blocked() bool { return len(d.FailedTGAllocs) > 0 }

// Scheduler makes decisions for evaluations of the job types it serves.
type Scheduler interface {
	Schedule(st State, in Input) (*Decision, error)
}

// Factory returns the built-in scheduler for a job type.
func Factory(jobType string) (Scheduler, error) {
	switch jobType {
	case structs.JobTypeService, structs.JobTypeBatch:
		return genericScheduler{}, nil
	case structs.JobTypeSystem, structs.JobTypeSysBatch:
		return systemScheduler{}, nil
	}
	return nil, fmt.Errorf("scheduler: no scheduler for job type %q", jobType)
}

// pass is one scheduling pass over an evaluation's job: the job's
// allocations, the plan being built, and the placer tracking node usage.
type pass struct {
	in     Input
	job    *structs.Job
	allocs []*structs.Allocation
	plan   *structs.Plan
	p      *placer
	d      *Decision
}

func newPass(st State, in Input) *pass {
	eval := in.Eval
	job := st.Job(eval.Namespace, eval.JobId)
	return &pass{
		in:     in,
		job:    job,
		allocs: st.AllocsByJob(eval.Namespace, eval.JobId),
		plan:   &structs.Plan{EvalId: eval.Id, Priority: eval.Priority, Job: job, SnapshotIndex: st.Index()},
		p:      newPlacer(st),
		d:      &Decision{},
	}
}

// stop adds a stop of a to the plan, freeing its resources for this pass.
func (ps *pass) stop(a *structs.Allocation, why string) {
	ps.plan.NodeUpdate = append(ps.plan.NodeUpdate, stopAlloc(a, why))
	ps.p.stop(a)
}

// place adds a placement to the plan.
func (ps *pass) place(a *structs.Allocation) {
	ps.plan.NodeAllocation = append(ps.plan.NodeAllocation, a)
	ps.p.add(a)
}

// stopIfJobStopped stops every running allocation when the job is gone or
// stopped, and reports whether it was.
func (ps *pass) stopIfJobStopped() bool {
	if ps.job != nil && !ps.job.Stop {
		return false
	}
	for _, a := range ps.allocs {
		if a.DesiredStatus == structs.AllocDesiredRun {
			ps.stop(a, "alloc not needed as job is stopped")
		}
	}
	return true
}

// decision returns the pass's decision, without a plan when nothing changes.
func (ps *pass) decision() *Decision {
	if len(ps.plan.NodeAllocation)+len(ps.plan.NodeUpdate) > 0 {
		ps.d.Plan = ps.plan
	}
	return ps.d
}

// stopAlloc returns a copy of a marked for stopping, with a reason.
func stopAlloc(a *structs.Allocation, desc string) *structs.Allocation {
	c := shallowCopy(a)
	c.DesiredStatus = structs.AllocDesiredStop
	c.DesiredDescription = desc
	return c
}

// shallowCopy copies an allocation's own fields (the job pointer is shared).
func shallowCopy(a *structs.Allocation) *structs.Allocation {
	return &structs.Allocation{
		Id: a.Id, Namespace: a.Namespace, EvalId: a.EvalId, Name: a.Name, NodeId: a.NodeId,
		NodeName: a.NodeName, JobId: a.JobId, Job: a.Job, TaskGroup: a.TaskGroup,
		TaskResources: a.TaskResources, DesiredStatus: a.DesiredStatus,
		DesiredDescription: a.DesiredDescription, ClientStatus: a.ClientStatus,
		ClientDescription: a.ClientDescription, TaskStates: a.TaskStates,
		CreateIndex: a.CreateIndex, ModifyIndex: a.ModifyIndex, AllocModifyIndex: a.AllocModifyIndex,
		CreateTime: a.CreateTime, ModifyTime: a.ModifyTime,
	}
}

// AllocName is the conventional name of a group's index-th allocation.
func AllocName(jobID, group string, index int) string {
	return fmt.Sprintf("%s.%s[%d]", jobID, group, index)
}

// newAlloc builds a pending allocation of tg on node.
func newAlloc(in Input, job *structs.Job, tg *structs.TaskGroup, name string, node *structs.Node) *structs.Allocation {
	res := make(map[string]*structs.Resources, len(tg.Tasks))
	for _, t := range tg.Tasks {
		res[t.Name] = t.Resources
	}
	return &structs.Allocation{
		Id: in.NewID(), Namespace: job.Namespace, EvalId: in.Eval.Id, Name: name,
		NodeId: node.Id, NodeName: node.Name, JobId: job.Id, Job: job, TaskGroup: tg.Name,
		TaskResources: res, DesiredStatus: structs.AllocDesiredRun,
		ClientStatus: structs.AllocClientPending, CreateTime: in.Now.UnixNano(), ModifyTime: in.Now.UnixNano(),
	}
}

// live reports whether an allocation still holds its slot: wanted running and not lost.
func live(a *structs.Allocation) bool {
	return a.DesiredStatus == structs.AllocDesiredRun && a.ClientStatus != structs.AllocClientLost
}

// outdated reports whether an allocation runs an older version of job.
func outdated(a *structs.Allocation, job *structs.Job) bool {
	return a.Job != nil && a.Job.JobModifyIndex != job.JobModifyIndex
}
