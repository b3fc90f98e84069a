package scheduler

import "github.com/droverhq/drover/structs"

// DesiredUpdates counts what a decision does to one task group's
// allocations, as Nomad's job plan annotates each group.
type DesiredUpdates struct {
	// Ignore counts allocations left as they are.
	Ignore uint64
	// Place counts new allocations (scale up, replacements of lost or
	// failed ones).
	Place uint64
	// Migrate counts allocations moved off a draining node.
	Migrate uint64
	// Stop counts allocations stopped without a replacement.
	Stop uint64
	// InPlaceUpdate counts allocations updated to the new version where
	// they run.
	InPlaceUpdate uint64
	// DestructiveUpdate counts allocations replaced by new ones because
	// the new version cannot run in them.
	DestructiveUpdate uint64
	// Canary counts canaries (drover places none).
	Canary uint64
	// Preemptions counts other jobs' allocations evicted for the group.
	Preemptions uint64
}

// DesiredUpdatesOf counts, per task group of job, what d does to the
// job's allocations as they were before the decision (current).
func DesiredUpdatesOf(d *Decision, job *structs.Job, current []*structs.Allocation) map[string]*DesiredUpdates {
	out := map[string]*DesiredUpdates{}
	group := func(name string) *DesiredUpdates {
		u := out[name]
		if u == nil {
			u = &DesiredUpdates{}
			out[name] = u
		}
		return u
	}
	for _, tg := range job.GetTaskGroups() {
		group(tg.Name)
	}
	byID := make(map[string]*structs.Allocation, len(current))
	for _, a := range current {
		byID[a.Id] = a
	}
	touched := map[string]bool{}
	replaced := map[string]bool{}
	var plan *structs.Plan
	if d != nil {
		plan = d.Plan
	}
	stopped := map[string]bool{}
	for _, a := range plan.GetNodeUpdate() {
		stopped[a.Id] = true
	}
	for _, a := range plan.GetNodeAllocation() {
		u := group(a.TaskGroup)
		if _, ok := byID[a.Id]; ok {
			u.InPlaceUpdate++
			touched[a.Id] = true
			continue
		}
		prev := byID[a.PreviousAllocation]
		switch {
		case prev == nil || !stopped[prev.Id]:
			u.Place++
		case prev.GetDesiredTransition().GetMigrate():
			u.Migrate++
		case job != nil && outdated(prev, job):
			u.DestructiveUpdate++
		default:
			u.Place++
		}
		if prev != nil {
			replaced[prev.Id] = true
		}
		if n := len(a.PreemptedAllocations); n > 0 {
			u.Preemptions += uint64(n)
		}
	}
	for _, a := range plan.GetNodeUpdate() {
		touched[a.Id] = true
		if !replaced[a.Id] && byID[a.Id] != nil && !byID[a.Id].IsTerminal() {
			group(a.TaskGroup).Stop++
		}
	}
	for _, a := range current {
		if !touched[a.Id] && !a.IsTerminal() {
			group(a.TaskGroup).Ignore++
		}
	}
	return out
}
