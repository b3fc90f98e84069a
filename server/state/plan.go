package state

import (
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// ApplyPlanResult commits what the plan applier accepted of a plan, at
// index and time now (unix nanos):
//
//   - node_update entries change existing allocations: their desired
//     status and description when set, and the follow-up evaluation,
//     next allocation and desired transition they carry; one with
//     reconnected_at set takes back an allocation whose node reconnected
//     (its disconnected_at and next_allocation are cleared);
//   - node_preemptions are evicted, naming the allocation they make room for;
//   - node_allocation entries are stored as given, with job attached to
//     those that travel without one; an existing allocation (an in-place
//     update) keeps its client-side state, and its health unless it
//     joins another deployment;
//   - the deployment the plan creates is stored first, and its status
//     updates applied, so placements count in their deployment
//     (TrackDeploymentAlloc).
//
// The transaction takes ownership of res's placements (the FSM hands over
// freshly decoded objects), so they are not copied: their repeated strings
// are interned and their equal task resources and metrics shared
// (intern.go). The job of every allocation touched has its status
// refreshed once.
func (tx *Txn) ApplyPlanResult(res *structs.PlanResult, job *structs.Job, index uint64, now int64) {
	touched := map[jobKey]bool{}
	if d := res.GetDeployment(); d != nil {
		d = CloneDeployment(d)
		if old := tx.Deployment(d.Id); old != nil {
			d.CreateIndex, d.CreateTime = old.CreateIndex, old.CreateTime
		} else {
			d.CreateIndex, d.CreateTime = index, now
		}
		d.ModifyIndex, d.ModifyTime = index, now
		tx.UpsertDeployment(d)
	}
	for _, u := range res.GetDeploymentUpdates() {
		tx.UpdateDeploymentStatus(index, now, u)
	}
	for _, u := range res.GetNodeUpdate() {
		cur := tx.Alloc(u.Id)
		if cur == nil {
			continue
		}
		upd := cloneAlloc(cur)
		if u.DesiredStatus != "" {
			upd.DesiredStatus = Intern(u.DesiredStatus)
			upd.DesiredDescription = Intern(u.DesiredDescription)
		}
		if u.FollowupEvalId != "" {
			upd.FollowupEvalId = Intern(u.FollowupEvalId)
		}
		if u.NextAllocation != "" {
			upd.NextAllocation = u.NextAllocation
		}
		if u.DesiredTransition != nil {
			upd.DesiredTransition = u.DesiredTransition
		}
		if u.ReconnectedAt != 0 {
			// Taken back after its node reconnected: it replaces nothing
			// and waits for nothing any more.
			upd.ReconnectedAt = u.ReconnectedAt
			upd.DisconnectedAt = 0
			upd.NextAllocation = ""
		}
		upd.ModifyIndex, upd.ModifyTime = index, now
		tx.UpsertAlloc(upd)
		touched[jobKey{upd.Namespace, upd.JobId}] = true
	}
	for _, p := range res.GetNodePreemptions() {
		cur := tx.Alloc(p.Id)
		if cur == nil || cur.IsTerminal() {
			continue
		}
		upd := cloneAlloc(cur)
		upd.DesiredStatus = structs.AllocDesiredEvict
		upd.DesiredDescription = p.DesiredDescription
		upd.PreemptedByAllocation = p.PreemptedByAllocation
		upd.ModifyIndex, upd.ModifyTime = index, now
		tx.UpsertAlloc(upd)
		touched[jobKey{upd.Namespace, upd.JobId}] = true
	}
	var sharing planSharing
	for _, a := range res.GetNodeAllocation() {
		sharing.share(a)
		if a.Job == nil {
			a.Job = job
		}
		cur := tx.Alloc(a.Id)
		if cur != nil {
			a.CreateIndex = cur.CreateIndex
			a.CreateTime = cur.CreateTime
			a.ClientStatus = cur.ClientStatus
			a.ClientDescription = cur.ClientDescription
			a.TaskStates = cur.TaskStates
			a.Checks = cur.Checks
			if a.DeploymentId == cur.DeploymentId {
				a.DeploymentStatus = cur.DeploymentStatus
			}
		} else {
			a.CreateIndex = index
		}
		a.ModifyIndex, a.AllocModifyIndex, a.ModifyTime = index, index, now
		if a.ClientStatus == "" {
			a.ClientStatus = structs.AllocClientPending
		}
		tx.upsertAlloc(a, cur, true)
		tx.TrackDeploymentAlloc(index, now, a, cur)
		if prev := a.PreviousAllocation; prev != "" {
			if p := tx.Alloc(prev); p != nil && p.NextAllocation != a.Id {
				upd := cloneAlloc(p)
				upd.NextAllocation = a.Id
				upd.ModifyIndex, upd.ModifyTime = index, now
				tx.UpsertAlloc(upd)
			}
		}
		touched[jobKey{a.Namespace, a.JobId}] = true
	}
	for k := range touched {
		tx.RefreshJobStatus(index, now, k.ns, k.id)
	}
}

// jobKey identifies a job within the cluster.
type jobKey struct{ ns, id string }

// cloneAlloc copies an allocation's own fields, sharing what they point to
// (its job, resources, task states: immutable in the store), which keeps
// updates of large jobs' allocations cheap. TestCloneAllocCopiesEveryField
// keeps the list complete.
func cloneAlloc(a *structs.Allocation) *structs.Allocation {
	return &structs.Allocation{
		Id: a.Id, Namespace: a.Namespace, EvalId: a.EvalId, Name: a.Name, NodeId: a.NodeId,
		NodeName: a.NodeName, JobId: a.JobId, Job: a.Job, TaskGroup: a.TaskGroup,
		TaskResources: a.TaskResources, DesiredStatus: a.DesiredStatus,
		DesiredDescription: a.DesiredDescription, ClientStatus: a.ClientStatus,
		ClientDescription: a.ClientDescription, TaskStates: a.TaskStates,
		CreateIndex: a.CreateIndex, ModifyIndex: a.ModifyIndex, AllocModifyIndex: a.AllocModifyIndex,
		CreateTime: a.CreateTime, ModifyTime: a.ModifyTime, DesiredTransition: a.DesiredTransition,
		AllocatedPorts: a.AllocatedPorts, PreviousAllocation: a.PreviousAllocation,
		NextAllocation: a.NextAllocation, RescheduleTracker: a.RescheduleTracker,
		FollowupEvalId: a.FollowupEvalId, PreemptedByAllocation: a.PreemptedByAllocation,
		PreemptedAllocations: a.PreemptedAllocations, DisconnectedAt: a.DisconnectedAt,
		ReconnectedAt: a.ReconnectedAt, Metrics: a.Metrics, DeploymentId: a.DeploymentId, DeploymentStatus: a.DeploymentStatus,
		Checks: a.Checks,
	}
}

// CloneAlloc is cloneAlloc for the server: a copy to modify and store.
func CloneAlloc(a *structs.Allocation) *structs.Allocation { return cloneAlloc(a) }

// RefreshJobStatus recomputes a job's status after its allocations changed.
func (tx *Txn) RefreshJobStatus(index uint64, now int64, ns, id string) {
	job := tx.Job(ns, id)
	if job == nil {
		return
	}
	if s := tx.JobStatus(job); s != job.Status {
		upd := CloneJob(job)
		SetJobStatus(upd, s, now)
		upd.ModifyIndex = index
		tx.UpsertJob(upd)
	}
}

// JobStatus is running while any allocation is wanted and not finished,
// dead once a stopped job (or a batch job that has run) has nothing
// left, else pending.
func (tx *Txn) JobStatus(job *structs.Job) string {
	anyAlloc, live := false, false
	tx.EachAllocOfJob(job.Namespace, job.Id, func(a *structs.Allocation) bool {
		anyAlloc = true
		live = !a.ClientTerminal() && a.DesiredStatus == structs.AllocDesiredRun
		return !live
	})
	switch {
	case live:
		return structs.JobStatusRunning
	case job.IsParent() && !job.Stop:
		// A template is running while it may launch children.
		return structs.JobStatusRunning
	case job.Stop:
		return structs.JobStatusDead
	case (job.Type == structs.JobTypeBatch || job.Type == structs.JobTypeSysBatch) && anyAlloc:
		return structs.JobStatusDead
	}
	return structs.JobStatusPending
}

// SetJobStatus records a status and, when it changes, when it did: the
// time garbage collection measures a dead job's age from.
func SetJobStatus(job *structs.Job, status string, now int64) {
	if job.Status != status || job.StatusUpdatedAt == 0 {
		job.StatusUpdatedAt = now
	}
	job.Status = status
}

// CloneJob deep-copies a job.
func CloneJob(j *structs.Job) *structs.Job { return proto.Clone(j).(*structs.Job) }
