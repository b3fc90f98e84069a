package scheduler

import (
	"slices"

	"github.com/droverhq/drover/structs"
)

// reasonUpdating is the desired description of an allocation replaced
// by a destructive update.
const reasonUpdating = "alloc is being updated due to job update"

// rollGroup adds to a rolling group's wanted placements (what the
// reconciler found missing, lost, rescheduled or migrating) the canaries
// and the destructive updates the deployment allows now. It also notes
// what the group's state in a new deployment would be.
func (ro *rollout) rollGroup(tg *structs.TaskGroup, wants []placement) []placement {
	gr := ro.groups[tg.Name]
	if gr == nil {
		return wants
	}
	u := gr.update
	st := ro.state(tg.Name)
	promoted := st.GetPromoted()
	slices.SortFunc(gr.destructive, func(a, b *structs.Allocation) int { return allocIndex(a.Name) - allocIndex(b.Name) })
	gr.total = int32(len(gr.destructive) + len(gr.inplace) + len(wants))

	paused := ro.cur != nil && ro.cur.Status == structs.DeploymentStatusPaused
	failed := ro.cur != nil && ro.cur.Status == structs.DeploymentStatusFailed
	requireCanaries := u.GetCanary() > 0 && len(gr.destructive) > 0 && !promoted && len(gr.canaries) < int(u.GetCanary())
	desiredCanaries := st.GetDesiredCanaries()
	if st == nil && requireCanaries {
		desiredCanaries = u.GetCanary()
		gr.desiredCanaries = desiredCanaries
	}
	canarying := desiredCanaries > 0 && !promoted
	ready := !paused && !failed && !canarying
	if !ready {
		// Nothing new until the deployment goes on; what was lost or
		// failed is still replaced.
		wants = slices.DeleteFunc(wants, func(w placement) bool { return w.previous == nil })
	}
	if requireCanaries && !paused && !failed {
		wants = append(wants, gr.canaryPlacements(int(u.GetCanary())-len(gr.canaries))...)
	}
	if ready {
		n := min(len(gr.destructive), ro.budget(tg.Name, u, len(wants)))
		for _, a := range gr.destructive[:n] {
			wants = append(wants, placement{name: a.Name, previous: a, stopPrevious: true, stopReason: reasonUpdating})
		}
	}
	gr.busy = gr.busy || len(wants) > 0 || len(gr.destructive) > 0 || len(gr.inplace) > 0 || requireCanaries
	return wants
}

// canaryPlacements places n canaries: first in place of failed canaries
// the deployment let go, then under the names of the allocations they
// will replace, in index order.
func (gr *groupRollout) canaryPlacements(n int) []placement {
	var out []placement
	used := map[string]bool{}
	for _, c := range gr.canaries {
		used[c.Name] = true
	}
	for _, c := range gr.freedCanaries {
		if len(out) == n {
			return out
		}
		out = append(out, placement{name: c.Name, previous: c, canary: true, reschedule: c.ClientStatus == structs.AllocClientFailed})
		used[c.Name] = true
	}
	for _, a := range gr.destructive {
		if len(out) >= n {
			break
		}
		if !used[a.Name] {
			out = append(out, placement{name: a.Name, canary: true})
			used[a.Name] = true
		}
	}
	return out
}

// budget is how many destructive updates a group may start now:
// max_parallel, less the allocations of the deployment not yet healthy,
// less the placements the pass makes anyway; none while one of the
// deployment's allocations is unhealthy.
func (ro *rollout) budget(group string, u *structs.UpdateStrategy, placing int) int {
	limit := int(u.GetMaxParallel())
	if ro.cur != nil {
		for _, a := range ro.ps.allocs {
			if a.TaskGroup != group || a.DeploymentId != ro.cur.Id || a.DesiredStatus != structs.AllocDesiredRun ||
				ro.ps.stopped[a.Id] || ro.skip[a.Id] || a.NextAllocation != "" {
				continue
			}
			tr := a.DesiredTransition
			if tr.GetReschedule() || tr.GetForceReschedule() || tr.GetMigrate() {
				continue // being replaced: its replacement counts among the placements
			}
			if a.ClientTerminal() && a.ClientStatus != structs.AllocClientFailed {
				continue
			}
			if a.DeploymentStatus.IsUnhealthy() {
				return 0
			}
			if !a.DeploymentStatus.IsHealthy() {
				limit--
			}
		}
	}
	return max(0, limit-placing)
}

// idFor is the deployment new and updated allocations of group join, or
// "": the current one while it runs or is paused and tracks the group.
func (ro *rollout) idFor(group string) string {
	if ro.cur == nil || !ro.cur.Active() || ro.cur.TaskGroups[group] == nil {
		return ""
	}
	return ro.cur.Id
}

// finish creates the deployment a new version needs, makes the pass's
// in-place updates join the current deployment, and marks the deployment
// successful once every group is done and healthy. It runs after
// rollGroup for every group and before placement.
func (ro *rollout) finish() {
	ps := ro.ps
	if ro.cur == nil && len(ro.groups) > 0 {
		ro.create()
	}
	for name, gr := range ro.groups {
		id := ro.idFor(name)
		for _, u := range gr.inplace {
			if id != "" && u.DeploymentId != id {
				u.DeploymentId, u.DeploymentStatus = id, nil
			}
		}
	}
	if ro.cur != nil && !ro.created && ro.cur.Status == structs.DeploymentStatusRunning && ro.complete() {
		ps.plan.DeploymentUpdates = append(ps.plan.DeploymentUpdates, &structs.DeploymentStatusUpdate{
			DeploymentId: ro.cur.Id, Status: structs.DeploymentStatusSuccessful,
			StatusDescription: structs.DeploymentDescSuccessful,
		})
	}
}

// create adds a deployment to the plan for the groups that roll out
// something: the job's first placements, or a new version's updates.
func (ro *rollout) create() {
	ps := ro.ps
	job := ps.job
	d := &structs.Deployment{
		Id: ps.in.NewID(), Namespace: job.Namespace, JobId: job.Id, JobVersion: job.Version,
		JobModifyIndex: job.ModifyIndex, JobSpecModifyIndex: job.JobModifyIndex, JobCreateIndex: job.CreateIndex,
		TaskGroups: map[string]*structs.DeploymentState{}, Status: structs.DeploymentStatusRunning,
		StatusDescription: structs.DeploymentDescRunning, EvalPriority: ps.in.Eval.Priority,
		CreateTime: ps.in.Now.UnixNano(), ModifyTime: ps.in.Now.UnixNano(),
	}
	for name, gr := range ro.groups {
		updating := len(gr.destructive) > 0 || len(gr.inplace) > 0
		if gr.total == 0 || (gr.hadCurrent && !updating) {
			continue
		}
		u := gr.update
		d.TaskGroups[name] = &structs.DeploymentState{
			AutoRevert: u.GetAutoRevert(), AutoPromote: u.GetAutoPromote(), ProgressDeadline: u.ProgressDeadline,
			DesiredTotal: gr.total, DesiredCanaries: gr.desiredCanaries,
		}
	}
	if len(d.TaskGroups) == 0 {
		return
	}
	if d.RequiresPromotion() {
		d.StatusDescription = structs.DeploymentDescRunningNeedsPromotion
		if d.HasAutoPromote() {
			d.StatusDescription = structs.DeploymentDescRunningAutoPromotion
		}
	}
	ro.cur, ro.created = d, true
	ps.plan.Deployment = d
}

// complete reports whether the current deployment has nothing left to do:
// no group has work left, and every group has as many healthy
// allocations as it wants, its canaries promoted.
func (ro *rollout) complete() bool {
	for _, gr := range ro.groups {
		if gr.busy {
			return false
		}
	}
	for _, st := range ro.cur.TaskGroups {
		if st.HealthyAllocs < max(st.DesiredTotal, st.DesiredCanaries) || (st.DesiredCanaries > 0 && !st.Promoted) {
			return false
		}
	}
	return true
}

// allocIndex reads the index of an allocation named "job.group[i]".
func allocIndex(name string) int {
	i := len(name) - 1
	if i < 0 || name[i] != ']' {
		return 0
	}
	j := i - 1
	for j >= 0 && name[j] >= '0' && name[j] <= '9' {
		j--
	}
	n := 0
	for _, c := range name[j+1 : i] {
		n = n*10 + int(c-'0')
	}
	return n
}
