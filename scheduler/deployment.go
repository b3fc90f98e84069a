package scheduler

import (
	"slices"
	"time"

	"github.com/droverhq/drover/structs"
)

// Deployments (Nomad's update block). A group of a service job whose
// update block has max_parallel > 0 is rolled out by a deployment: the
// first pass over a new version of the job (or over the job's first
// version) creates one in its plan, and every pass after replaces at
// most max_parallel allocations less those of the deployment not yet
// healthy; the leader's deployment watcher runs a new pass when health
// changes. With canary = N the first N replacements are canaries, placed
// beside the old allocations, and the rollout waits until they are
// promoted. A paused or failed deployment replaces nothing more (lost and
// rescheduled allocations are still replaced); a deployment whose every
// group has all its allocations healthy (and its canaries promoted) is
// marked successful by the pass that sees it.

// DeploymentReader is what a State offers about deployments. The state
// store's snapshots implement it; a State without it has none, and a
// rolling group is then replaced max_parallel allocations per pass.
type DeploymentReader interface {
	// LatestDeployment is the job's most recently created deployment, or nil.
	LatestDeployment(namespace, jobID string) *structs.Deployment
	// Deployment returns one deployment, or nil.
	Deployment(id string) *structs.Deployment
}

// reasonReplacedByCanary is the desired description of an old allocation
// stopped because a promoted canary took its name.
const reasonReplacedByCanary = "alloc not needed as it is replaced by a promoted canary"

// reasonCanaryNotNeeded stops canaries that will never be promoted.
const reasonCanaryNotNeeded = "alloc not needed due to job update"

// rollout is what a pass knows and decides about the job's deployment.
type rollout struct {
	ps    *pass
	dr    DeploymentReader
	jobNS string
	jobID string
	// cur is the deployment of the job's current version (created by this
	// pass, or running, paused or failed); nil when there is none.
	cur     *structs.Deployment
	created bool
	// groups holds, per rolling group, what the pass found.
	groups map[string]*groupRollout
	// skip are the allocations the reconciler leaves alone: canaries
	// waiting for promotion.
	skip map[string]bool
	// canaryNames are the names promoted canaries took.
	canaryNames map[string]bool
}

// groupRollout is one rolling group in a pass.
type groupRollout struct {
	update *structs.UpdateStrategy
	// destructive are the outdated allocations that need replacing.
	destructive []*structs.Allocation
	// inplace are the in-place updates of the pass.
	inplace []*structs.Allocation
	// canaries of the current deployment that hold a canary slot, and
	// failed ones that may be replaced.
	canaries, freedCanaries []*structs.Allocation
	// busy: the group has work left (placements, updates, reschedules).
	busy bool
	// hadCurrent: some allocation already runs the current version.
	hadCurrent bool
	// total and desiredCanaries are the group's state in a deployment
	// the pass creates.
	total, desiredCanaries int32
}

// newRollout reads the job's deployment and cancels one that belongs to a
// stopped job or to an older version.
func (ps *pass) newRollout() *rollout {
	ro := &rollout{ps: ps, jobNS: ps.in.Eval.Namespace, jobID: ps.in.Eval.JobId, groups: map[string]*groupRollout{},
		skip: map[string]bool{}, canaryNames: map[string]bool{}}
	ro.dr, _ = ps.st.(DeploymentReader)
	var d *structs.Deployment
	if ro.dr != nil {
		d = ro.dr.LatestDeployment(ro.jobNS, ro.jobID)
	}
	job := ps.job
	switch {
	case d == nil:
	case job == nil || job.Stop:
		ro.cancel(d, structs.DeploymentDescStoppedJob)
		d = nil
	case !d.ForJob(job):
		ro.cancel(d, structs.DeploymentDescNewerJob)
		d = nil
	case d.Status == structs.DeploymentStatusRunning, d.Status == structs.DeploymentStatusPaused,
		d.Status == structs.DeploymentStatusFailed:
	default:
		d = nil // successful (or cancelled): nothing left to track
	}
	ro.cur = d
	if job == nil || job.Stop || job.Type != structs.JobTypeService {
		return ro
	}
	for _, tg := range job.TaskGroups {
		if u := structs.UpdateOf(job, tg.Name); u != nil {
			ro.groups[tg.Name] = &groupRollout{update: u}
		}
	}
	for _, a := range ps.allocs {
		if gr := ro.groups[a.TaskGroup]; gr != nil && a.Job.GetVersion() == job.Version && a.Job.GetCreateIndex() == job.CreateIndex {
			gr.hadCurrent = true
		}
	}
	ro.sortCanaries()
	return ro
}

// cancel adds the cancellation of an active deployment to the plan.
func (ro *rollout) cancel(d *structs.Deployment, why string) {
	if d.Active() {
		ro.ps.plan.DeploymentUpdates = append(ro.ps.plan.DeploymentUpdates, &structs.DeploymentStatusUpdate{
			DeploymentId: d.Id, Status: structs.DeploymentStatusCancelled, StatusDescription: why,
		})
	}
}

// state is a group's state in the current deployment, or nil.
func (ro *rollout) state(group string) *structs.DeploymentState {
	if ro.cur == nil {
		return nil
	}
	return ro.cur.TaskGroups[group]
}

// sortCanaries looks at every canary of the job: one of the current
// deployment waiting for promotion is left alone by the reconciler (it
// holds no name); one whose deployment is over without promoting it is
// stopped; a promoted one keeps its name against the old allocation of
// the same name.
func (ro *rollout) sortCanaries() {
	ps := ro.ps
	for _, a := range ps.allocs {
		if !a.DeploymentStatus.IsCanary() || a.DesiredStatus != structs.AllocDesiredRun {
			continue
		}
		gr := ro.groups[a.TaskGroup]
		current := ro.cur != nil && a.DeploymentId == ro.cur.Id
		promoted := false
		if st := ro.deploymentOf(a).GetTaskGroups()[a.TaskGroup]; st != nil {
			promoted = st.Promoted
		}
		switch {
		case promoted:
			if current && !a.ClientTerminal() {
				ro.canaryNames[a.Name] = true
			}
		case current && ro.cur.Active() && gr != nil:
			ro.skip[a.Id] = true
			if a.NextAllocation != "" {
				continue // replaced: its replacement holds the slot
			}
			if a.ClientTerminal() && (a.ClientStatus == structs.AllocClientLost || a.DesiredTransition.GetReschedule()) {
				gr.freedCanaries = append(gr.freedCanaries, a)
				continue
			}
			gr.canaries = append(gr.canaries, a)
		default:
			ro.skip[a.Id] = true
			if !a.ClientTerminal() {
				ps.stop(a, reasonCanaryNotNeeded)
			}
		}
	}
}

// deploymentOf returns the deployment an allocation belongs to, or nil.
func (ro *rollout) deploymentOf(a *structs.Allocation) *structs.Deployment {
	if ro.cur != nil && a.DeploymentId == ro.cur.Id {
		return ro.cur
	}
	if ro.dr == nil || a.DeploymentId == "" {
		return nil
	}
	return ro.dr.Deployment(a.DeploymentId)
}

// order puts live promoted canaries first, so they keep their names.
func (ro *rollout) order(allocs []*structs.Allocation) []*structs.Allocation {
	if len(ro.canaryNames) == 0 {
		return allocs
	}
	out := slices.Clone(allocs)
	slices.SortStableFunc(out, func(a, b *structs.Allocation) int {
		return canaryRank(a) - canaryRank(b)
	})
	return out
}

func canaryRank(a *structs.Allocation) int {
	if a.DeploymentStatus.IsCanary() && !a.ClientTerminal() {
		return 0
	}
	return 1
}

// rolling returns the group's rollout, or nil when the group is not
// rolled out by a deployment.
func (ro *rollout) rolling(group string) *groupRollout {
	if ro == nil {
		return nil
	}
	return ro.groups[group]
}

// markBusy notes that a group has work left that completes later.
func (ro *rollout) markBusy(group string) {
	if gr := ro.rolling(group); gr != nil {
		gr.busy = true
	}
}

// RescheduleEligible reports whether an allocation of job that failed (or
// was found unhealthy) may still be replaced at now under its group's
// reschedule policy: the deployment watcher fails a deployment at once
// when it may not.
func RescheduleEligible(a *structs.Allocation, job *structs.Job, now time.Time) bool {
	tg := groupOf(job, a.TaskGroup)
	if tg == nil {
		return false
	}
	_, ok := rescheduleAt(a, reschedulePolicy(job, tg), now)
	return ok
}
