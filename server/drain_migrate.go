package server

import (
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// migrateBudget bounds, within one drain pass, how many allocations of
// each service group with a migrate block are marked to migrate, as
// Nomad's drainer does: a group of count allocations keeps at least
// count - max_parallel of them healthy, so it marks no more than
// healthy - (count - max_parallel), where healthy counts the group's
// allocations that run, were found healthy (their client reports health
// per the group's migrate block, or their deployment's), and are not
// marked to migrate already. Until its replacements are healthy, a group
// waits; past the drain's deadline everything left goes anyway.
type migrateBudget struct {
	snap *state.Snapshot
	left map[[3]string]int
}

func newMigrateBudget(snap *state.Snapshot) *migrateBudget {
	return &migrateBudget{snap: snap, left: map[[3]string]int{}}
}

// allow reports whether a may be marked now, and counts it if so.
func (b *migrateBudget) allow(a *structs.Allocation) bool {
	job := b.snap.Job(a.Namespace, a.JobId)
	if job == nil || job.Type != structs.JobTypeService {
		return true
	}
	var tg *structs.TaskGroup
	for _, g := range job.TaskGroups {
		if g.Name == a.TaskGroup {
			tg = g
		}
	}
	if tg == nil || tg.GetMigrate().GetMaxParallel() <= 0 {
		return true
	}
	k := [3]string{a.Namespace, a.JobId, a.TaskGroup}
	left, ok := b.left[k]
	if !ok {
		healthy := 0
		for _, o := range b.snap.AllocsByJob(a.Namespace, a.JobId) {
			if o.TaskGroup == a.TaskGroup && o.DesiredStatus == structs.AllocDesiredRun && !o.ClientTerminal() &&
				o.DeploymentStatus.IsHealthy() && !o.DesiredTransition.GetMigrate() {
				healthy++
			}
		}
		left = healthy - (int(tg.Count) - int(tg.GetMigrate().GetMaxParallel()))
	}
	if left <= 0 {
		b.left[k] = 0
		return false
	}
	b.left[k] = left - 1
	return true
}
