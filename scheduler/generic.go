package scheduler

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/droverhq/drover/structs"
)

// genericScheduler serves service and batch jobs: it keeps count
// allocations of each group running, named job.group[i].
type genericScheduler struct{}

// Schedule reconciles the job's allocations with its desired count.
func (genericScheduler) Schedule(st State, in Input) (*Decision, error) {
	ps := newPass(st, in)
	if ps.stopIfJobStopped() {
		return ps.decision(), nil
	}
	job := ps.job
	groups := map[string]*structs.TaskGroup{}
	for _, tg := range job.TaskGroups {
		groups[tg.Name] = tg
	}
	// Stop what no longer belongs; remember which names are held.
	held := map[string]bool{}
	for _, a := range ps.allocs {
		if !live(a) {
			continue
		}
		tg := groups[a.TaskGroup]
		switch {
		case tg == nil:
			ps.stop(a, "alloc not needed as task group was removed")
		case a.GetDesiredTransition().GetMigrate():
			// Its node drains: stop it here and place its name elsewhere
			// in this same plan.
			ps.stop(a, "alloc is being migrated")
		case held[a.Name]:
			ps.stop(a, "alloc is a duplicate")
		case !nameInRange(a.Name, job.Id, tg):
			ps.stop(a, "alloc not needed due to job update")
		case outdated(a, job) && a.ClientStatus != structs.AllocClientComplete:
			// A failed allocation of the old version is replaced too:
			// resubmitting a fixed job must not leave it failed.
			ps.stop(a, "alloc is being updated due to job update")
		default:
			held[a.Name] = true
		}
	}
	for _, tg := range job.TaskGroups {
		var metric structs.AllocMetric
		var queued int32
		for i := 0; i < int(tg.Count); i++ {
			name := AllocName(job.Id, tg.Name, i)
			if held[name] {
				continue
			}
			ask := newAlloc(in, job, tg, name, &structs.Node{})
			node := ps.p.best(job, tg, ask, &metric)
			if node == nil {
				queued++
				continue
			}
			a := newAlloc(in, job, tg, name, node)
			a.Id = ask.Id
			ps.place(a)
		}
		recordGroup(ps.d, tg.Name, queued, &metric)
	}
	return ps.decision(), nil
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

// recordGroup notes a group's queued placements and why they failed.
func recordGroup(d *Decision, group string, queued int32, m *structs.AllocMetric) {
	if d.QueuedAllocations == nil {
		d.QueuedAllocations = map[string]int32{}
	}
	d.QueuedAllocations[group] = queued
	if queued > 0 {
		if d.FailedTGAllocs == nil {
			d.FailedTGAllocs = map[string]*structs.AllocMetric{}
		}
		m.CoalescedFailures = queued - 1
		d.FailedTGAllocs[group] = m
	}
}

// String describes a decision for logs.
func (d *Decision) String() string {
	if d.Plan == nil {
		return fmt.Sprintf("no changes, failed groups %d", len(d.FailedTGAllocs))
	}
	return fmt.Sprintf("place %d, stop %d, failed groups %d", len(d.Plan.NodeAllocation), len(d.Plan.NodeUpdate), len(d.FailedTGAllocs))
}
