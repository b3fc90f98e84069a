package server

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// applyDeploymentStatus changes a deployment's status; a revert job in
// the entry becomes the job's new version, and the evaluation is stored.
func (f *fsm) applyDeploymentStatus(tx *state.Txn, index uint64, now int64, c *structs.DeploymentStatusCommand) []*structs.Evaluation {
	if c.Update != nil {
		tx.UpdateDeploymentStatus(index, now, c.Update)
	}
	return f.revertAndEval(tx, index, now, c.Job, c.Eval, c.TrackedVersions)
}

// revertAndEval registers job again (when set) as the job's new version,
// with eval; without a job, eval is stored as it is.
func (f *fsm) revertAndEval(tx *state.Txn, index uint64, now int64, job *structs.Job, eval *structs.Evaluation, tracked uint32) []*structs.Evaluation {
	if job != nil {
		// A revert carries no enforced index, so the upsert cannot be
		// refused.
		evals, _ := f.applyJobUpsert(tx, index, now, &structs.JobUpsert{Job: job, Eval: eval, TrackedVersions: tracked})
		return evals
	}
	if eval == nil {
		return nil
	}
	return upsertEvals(tx, index, now, []*structs.Evaluation{eval})
}

// applyDeploymentPromote promotes the canaries of the named groups (or of
// all) of a running deployment. It is refused, changing nothing, when the
// deployment is not active, a group is unknown or has no canaries, or its
// canaries are not all healthy: what is decided here is what every
// server decides.
func (f *fsm) applyDeploymentPromote(tx *state.Txn, index uint64, now int64, c *structs.DeploymentPromote) ([]*structs.Evaluation, error) {
	cur := tx.Deployment(c.DeploymentId)
	if cur == nil {
		return nil, fmt.Errorf("%w: deployment %s", structs.ErrNotFound, structs.Quote(c.DeploymentId))
	}
	if err := promotable(tx, cur, c.All, c.Groups); err != nil {
		return nil, err
	}
	d := state.CloneDeployment(cur)
	for name, g := range d.TaskGroups {
		if (c.All || contains(c.Groups, name)) && g.DesiredCanaries > 0 {
			g.Promoted = true
		}
	}
	if !d.RequiresPromotion() {
		d.StatusDescription = structs.DeploymentDescRunning
	}
	d.ModifyIndex, d.ModifyTime = index, now
	tx.UpsertDeployment(d)
	if c.Eval == nil {
		return nil, nil
	}
	return upsertEvals(tx, index, now, []*structs.Evaluation{c.Eval}), nil
}

// promotable checks that the groups can be promoted now.
func promotable(tx *state.Txn, d *structs.Deployment, all bool, groups []string) error {
	if !d.Active() {
		return fmt.Errorf("%w: can't promote a deployment that is %s", structs.ErrBadRequest, d.Status)
	}
	for _, g := range groups {
		if d.TaskGroups[g] == nil {
			return fmt.Errorf("%w: deployment has no task group %s", structs.ErrBadRequest, structs.Quote(g))
		}
	}
	found := false
	for name, g := range d.TaskGroups {
		if (!all && !contains(groups, name)) || g.DesiredCanaries == 0 {
			continue
		}
		found = true
		healthy := int32(0)
		for _, id := range g.PlacedCanaries {
			if a := tx.Alloc(id); a != nil && a.DeploymentStatus.IsHealthy() && !a.ClientTerminal() {
				healthy++
			}
		}
		if healthy < g.DesiredCanaries {
			return fmt.Errorf("%w: task group %s has %d/%d healthy canaries", structs.ErrBadRequest, structs.Quote(name), healthy, g.DesiredCanaries)
		}
	}
	if !found {
		return fmt.Errorf("%w: no canaries to promote", structs.ErrBadRequest)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// applyDeploymentAllocHealth records the health an operator set for
// allocations of an active deployment; with an unhealthy one the entry
// also fails the deployment (and may revert the job).
func (f *fsm) applyDeploymentAllocHealth(tx *state.Txn, index uint64, now int64, c *structs.DeploymentAllocHealth) ([]*structs.Evaluation, error) {
	d := tx.Deployment(c.DeploymentId)
	if d == nil {
		return nil, fmt.Errorf("%w: deployment %s", structs.ErrNotFound, structs.Quote(c.DeploymentId))
	}
	if !d.Active() {
		return nil, fmt.Errorf("%w: can't set the health of allocations of a deployment that is %s", structs.ErrBadRequest, d.Status)
	}
	for _, ids := range [][]string{c.HealthyIds, c.UnhealthyIds} {
		for _, id := range ids {
			if a := tx.Alloc(id); a == nil || a.DeploymentId != d.Id {
				return nil, fmt.Errorf("%w: allocation %s is not part of the deployment", structs.ErrBadRequest, structs.Quote(id))
			}
		}
	}
	set := func(ids []string, healthy bool) {
		for _, id := range ids {
			cur := tx.Alloc(id)
			upd := state.CloneAlloc(cur)
			ds := proto.CloneOf(cur.DeploymentStatus)
			if ds == nil {
				ds = &structs.AllocDeploymentStatus{}
			}
			ds.Healthy, ds.Timestamp, ds.ModifyIndex = proto.Bool(healthy), now, index
			upd.DeploymentStatus = ds
			upd.ModifyIndex, upd.ModifyTime = index, now
			tx.UpsertAlloc(upd)
			tx.TrackDeploymentAlloc(index, now, upd, cur)
		}
	}
	set(c.HealthyIds, true)
	set(c.UnhealthyIds, false)
	if c.Update != nil {
		tx.UpdateDeploymentStatus(index, now, c.Update)
	}
	return f.revertAndEval(tx, index, now, c.Job, c.Eval, c.TrackedVersions), nil
}

// applyJobStability marks a kept version of a job stable or not.
func applyJobStability(tx *state.Txn, index uint64, c *structs.JobStability) error {
	if !tx.SetJobStability(index, c.Namespace, c.JobId, c.Version, c.Stable) {
		return fmt.Errorf("%w: job %s has no version %d", structs.ErrNotFound, structs.Quote(c.JobId), c.Version)
	}
	return nil
}

// applyAllocHealth takes from a client's report of an allocation what
// concerns its health: the check results, and the health decided for
// the deployment the client knows the allocation in (a report about an
// earlier deployment is stale and ignored). upd is the allocation being
// stored, cur the one it replaces.
func applyAllocHealth(tx *state.Txn, index uint64, now int64, report, upd, cur *structs.Allocation) {
	if report.Checks != nil {
		upd.Checks = report.Checks
	}
	if rs := report.DeploymentStatus; rs.HasHealth() && report.DeploymentId == cur.DeploymentId {
		ds := proto.CloneOf(cur.DeploymentStatus)
		if ds == nil {
			ds = &structs.AllocDeploymentStatus{}
		}
		if !ds.HasHealth() || *ds.Healthy != *rs.Healthy {
			ds.Healthy, ds.Timestamp, ds.ModifyIndex = proto.Bool(*rs.Healthy), rs.Timestamp, index
			if ds.Timestamp == 0 {
				ds.Timestamp = now
			}
			upd.DeploymentStatus = ds
		}
	}
}

// maxReportedChecks and maxCheckOutput bound what a client's report of
// check results may hold.
const (
	maxReportedChecks = 64
	maxCheckOutput    = 1024
)

// reportedHealth keeps of a client's health report what a client may
// decide: whether the allocation is healthy, and when.
func reportedHealth(s *structs.AllocDeploymentStatus) *structs.AllocDeploymentStatus {
	if !s.HasHealth() {
		return nil
	}
	return &structs.AllocDeploymentStatus{Healthy: proto.Bool(*s.Healthy), Timestamp: s.Timestamp}
}

// boundedChecks caps a client's check results in number and output size.
func boundedChecks(in []*structs.CheckStatus) []*structs.CheckStatus {
	if in == nil {
		return nil
	}
	out := make([]*structs.CheckStatus, 0, min(len(in), maxReportedChecks))
	for _, c := range in[:min(len(in), maxReportedChecks)] {
		if c == nil {
			continue
		}
		if len(c.Output) > maxCheckOutput {
			c = proto.CloneOf(c)
			c.Output = c.Output[:maxCheckOutput]
		}
		out = append(out, c)
	}
	return out
}
