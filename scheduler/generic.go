package scheduler

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/droverhq/drover/structs"
)

// genericScheduler serves service and batch jobs: it keeps count
// allocations of each group, named job.group[i], replacing lost, failed
// (per the reschedule policy), migrating and outdated ones.
type genericScheduler struct{}

// followupWindow groups failed allocations whose reschedule times are this
// close into one delayed evaluation.
const followupWindow = 5 * time.Second

// Schedule reconciles the job's allocations with its desired count.
func (genericScheduler) Schedule(st State, in Input) (*Decision, error) {
	ps := newPass(st, in)
	ro := ps.newRollout()
	ps.rollout = ro
	if ps.stopIfJobStopped() {
		return ps.decision(), nil
	}
	job := ps.job
	wants := map[string][]placement{}
	held := map[string]bool{}
	followups := map[int64]*structs.Evaluation{}
	reconnected := ps.reconnect()
	for _, a := range byStrength(ro.order(ps.allocs)) {
		if ps.interrupted() {
			return nil, ErrInterrupted
		}
		if ps.stopped[a.Id] || ro.skip[a.Id] {
			continue // a replacement of an allocation that reconnected, or a canary
		}
		if r := reconnected[a.Id]; r != nil {
			a = r
		}
		tg := groupOf(job, a.TaskGroup)
		if tg == nil {
			if live(a) && !a.ClientTerminal() {
				ps.stop(a, "alloc not needed as task group was removed")
			}
			continue
		}
		ps.reconcileAlloc(a, tg, held, wants, followups)
	}
	for _, tg := range job.TaskGroups {
		for i := 0; i < int(tg.Count); i++ {
			if ps.interrupted() {
				return nil, ErrInterrupted
			}
			name := AllocName(job.Id, tg.Name, i)
			if !held[name] {
				held[name] = true
				wants[tg.Name] = append(wants[tg.Name], placement{name: name})
			}
		}
	}
	for _, e := range followups {
		ps.d.FollowupEvals = append(ps.d.FollowupEvals, e)
	}
	for _, tg := range job.TaskGroups {
		wants[tg.Name] = ro.rollGroup(tg, wants[tg.Name])
	}
	ro.finish()
	for _, tg := range job.TaskGroups {
		w := wants[tg.Name]
		if len(w) == 0 {
			ps.recordGroup(tg.Name, 0, nil)
			continue
		}
		ps.newGroupPlacer(tg).placeAll(w)
		if ps.halted {
			return nil, ErrInterrupted
		}
	}
	return ps.decision(), nil
}

// reconcileAlloc decides the fate of one allocation of an existing group:
// keep it (its name is then held), stop it, update it in place, or ask for
// a replacement under its name.
func (ps *pass) reconcileAlloc(a *structs.Allocation, tg *structs.TaskGroup, held map[string]bool,
	wants map[string][]placement, followups map[int64]*structs.Evaluation) {
	job := ps.job
	if a.NextAllocation != "" || a.DesiredStatus == structs.AllocDesiredEvict {
		return // already replaced, or preempted (its job's evaluation places it anew)
	}
	want := func(p placement) {
		held[a.Name] = true
		wants[tg.Name] = append(wants[tg.Name], p)
	}
	switch {
	case a.ClientStatus == structs.AllocClientLost:
		// The FSM stopped it when its node went down; replace it.
		if !held[a.Name] && nameInRange(a.Name, job.Id, tg) {
			want(placement{name: a.Name, previous: a})
		}
		return
	case a.DesiredStatus != structs.AllocDesiredRun:
		return
	}
	switch {
	case held[a.Name]:
		if !a.ClientTerminal() {
			why := "alloc is a duplicate"
			if ps.rollout != nil && ps.rollout.canaryNames[a.Name] {
				why = reasonReplacedByCanary
			}
			ps.stop(a, why)
		}
		return
	case !nameInRange(a.Name, job.Id, tg):
		if !a.ClientTerminal() {
			ps.stop(a, "alloc not needed due to job update")
		}
		return
	}
	node := ps.byID[a.NodeId]
	switch {
	case a.ClientStatus == structs.AllocClientComplete:
		// Done (batch), or finished on its own: not rerun.
		held[a.Name] = true
	case a.ClientStatus == structs.AllocClientFailed:
		ps.reconcileFailed(a, tg, want, held, followups)
	case node == nil:
		want(placement{name: a.Name, previous: a, stopPrevious: true, stopReason: "alloc is lost since its node is gone"})
	case a.Disconnected():
		// Its node missed its heartbeats: a replacement runs meanwhile,
		// and the original stays, unknown, until its node comes back or
		// its window runs out (see disconnect.go).
		want(placement{name: a.Name, previous: a})
	case a.DesiredTransition.GetMigrate():
		// Its node drains: placed elsewhere, stopped in the same plan; once
		// the drain's deadline has passed, stopped even with nowhere to go.
		past := node != nil && drainPastDeadline(node.node, ps.in.Now)
		want(placement{name: a.Name, previous: a, stopPrevious: true, stopAnyway: past, stopReason: "alloc is being migrated"})
	case a.DesiredTransition.GetForceReschedule() || a.DesiredTransition.GetReschedule():
		want(placement{name: a.Name, previous: a, stopPrevious: true, stopReason: "alloc is being rescheduled", reschedule: true})
	case outdated(a, job):
		gr := ps.rollout.rolling(tg.Name)
		if u := ps.inPlace(a, tg); u != nil {
			held[a.Name] = true
			ps.plan.NodeAllocation = append(ps.plan.NodeAllocation, u)
			if gr != nil {
				gr.inplace = append(gr.inplace, u)
			}
			return
		}
		if gr != nil {
			// A rolling group: the deployment decides how many go now.
			held[a.Name] = true
			gr.destructive = append(gr.destructive, a)
			return
		}
		want(placement{name: a.Name, previous: a, stopPrevious: true, stopReason: reasonUpdating})
	default:
		held[a.Name] = true
	}
}

// reconcileFailed handles a failed allocation: a new version replaces it
// at once; otherwise the reschedule policy says now, later (a delayed
// evaluation) or never.
func (ps *pass) reconcileFailed(a *structs.Allocation, tg *structs.TaskGroup, want func(placement),
	held map[string]bool, followups map[int64]*structs.Evaluation) {
	job, now := ps.job, ps.in.Now
	if outdated(a, job) {
		// Resubmitting a fixed job must not leave the failure in place.
		want(placement{name: a.Name, previous: a, stopPrevious: true, stopReason: "alloc is being updated due to job update"})
		return
	}
	if a.DesiredTransition.GetForceReschedule() {
		want(placement{name: a.Name, previous: a, reschedule: true})
		return
	}
	if ro := ps.rollout; ro != nil && ro.cur != nil && a.DeploymentId == ro.cur.Id && !a.DesiredTransition.GetReschedule() {
		// Part of the current deployment: while it runs, the deployment
		// watcher decides whether it may be replaced; once it failed, it
		// is not.
		held[a.Name] = true
		ro.markBusy(tg.Name)
		return
	}
	when, ok := rescheduleAt(a, reschedulePolicy(job, tg), now)
	switch {
	case !ok:
		held[a.Name] = true // stays failed
	case !when.After(now):
		want(placement{name: a.Name, previous: a, reschedule: true})
	default:
		held[a.Name] = true
		ps.rollout.markBusy(tg.Name)
		if a.FollowupEvalId != "" {
			return
		}
		slot := when.UnixNano() / int64(followupWindow)
		e := followups[slot]
		if e == nil {
			ev := ps.in.Eval
			e = &structs.Evaluation{
				Id: ps.in.NewID(), Namespace: job.Namespace, Priority: job.Priority, Type: job.Type,
				TriggeredBy: structs.EvalTriggerRetryFailed, JobId: job.Id, Status: structs.EvalStatusPending,
				WaitUntil: when.UnixNano(), PreviousEval: ev.Id,
			}
			followups[slot] = e
		}
		e.WaitUntil = max(e.WaitUntil, when.UnixNano())
		ps.plan.NodeUpdate = append(ps.plan.NodeUpdate, &structs.Allocation{
			Id: a.Id, Namespace: a.Namespace, NodeId: a.NodeId, JobId: a.JobId, TaskGroup: a.TaskGroup,
			FollowupEvalId: e.Id,
		})
	}
}

// byStrength orders allocations so that those holding their name best
// come first: running or pending, then finished, failed, lost.
func byStrength(allocs []*structs.Allocation) []*structs.Allocation {
	rank := func(a *structs.Allocation) int {
		switch {
		case a.DesiredStatus != structs.AllocDesiredRun && a.ClientStatus != structs.AllocClientLost:
			return 4
		case !a.ClientTerminal():
			return 0
		case a.ClientStatus == structs.AllocClientComplete:
			return 1
		case a.ClientStatus == structs.AllocClientFailed:
			return 2
		}
		return 3
	}
	out := slices.Clone(allocs)
	slices.SortStableFunc(out, func(a, b *structs.Allocation) int { return rank(a) - rank(b) })
	return out
}

// nameInRange reports whether an allocation name's index is below the group's count.
func nameInRange(name, jobID string, tg *structs.TaskGroup) bool {
	prefix := jobID + "." + tg.Name + "["
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, "]") {
		return false
	}
	i, err := strconv.Atoi(name[len(prefix) : len(name)-1])
	return err == nil && i >= 0 && i < int(tg.Count)
}

// drainPastDeadline reports whether n drains and its deadline has passed.
func drainPastDeadline(n *structs.Node, now time.Time) bool {
	ds := n.GetDrainStrategy()
	return ds != nil && ds.ForceDeadline != 0 && !now.Before(time.Unix(0, ds.ForceDeadline))
}
