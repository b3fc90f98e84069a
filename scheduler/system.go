package scheduler

import (
	"github.com/droverhq/drover/structs"
)

// systemScheduler serves system and sysbatch jobs: one allocation of each
// group on every node that is ready, eligible, not draining and feasible.
// It follows nodes joining (placed on) and leaving (stopped when the node
// is gone or no longer satisfies the job; kept on a node that is merely
// ineligible or down, as Nomad does).
type systemScheduler struct{}

// Schedule places the job on feasible nodes that lack it and stops it
// where it no longer belongs.
func (systemScheduler) Schedule(st State, in Input) (*Decision, error) {
	ps := newPass(st, in)
	if ps.stopIfJobStopped() {
		return ps.decision(), nil
	}
	job := ps.job
	// held[group][node]: an allocation stays there; replace[group][node]
	// is a destructive update to place there.
	held := map[string]map[string]bool{}
	replace := map[string]map[string]placement{}
	for _, tg := range job.TaskGroups {
		held[tg.Name] = map[string]bool{}
		replace[tg.Name] = map[string]placement{}
	}
	reconnected := ps.reconnect()
	for _, a := range byStrength(ps.allocs) {
		if ps.interrupted() {
			return nil, ErrInterrupted
		}
		if !live(a) || ps.stopped[a.Id] {
			continue
		}
		if r := reconnected[a.Id]; r != nil {
			a = r
		}
		tg := groupOf(job, a.TaskGroup)
		ns := ps.byID[a.NodeId]
		terminal := a.ClientTerminal()
		stop := func(why string) {
			if !terminal {
				ps.stop(a, why)
			}
		}
		switch {
		case tg == nil:
			stop("alloc not needed as task group was removed")
			continue
		case ns == nil:
			stop("alloc not needed as node was removed")
			continue
		case held[tg.Name][a.NodeId]:
			stop("alloc is a duplicate")
			continue
		}
		held[tg.Name][a.NodeId] = true
		node := ns.node
		switch {
		case node.Status == structs.NodeStatusDown || node.Status == structs.NodeStatusDisconnected:
			// The node-down path marks it lost; a disconnected node keeps
			// it (unknown) until it comes back or the window runs out.
		case node.DrainStrategy != nil:
			if !node.DrainStrategy.IgnoreSystemJobs && a.DesiredTransition.GetMigrate() {
				stop("alloc is being migrated")
			}
		case !ps.checkStatic(tg, node).ok:
			stop("alloc not needed as node is no longer feasible")
		case outdated(a, job) && a.ClientStatus != structs.AllocClientComplete:
			if u := ps.inPlace(a, tg); u != nil && !terminal {
				ps.plan.NodeAllocation = append(ps.plan.NodeAllocation, u)
				continue
			}
			delete(held[tg.Name], a.NodeId)
			replace[tg.Name][a.NodeId] = placement{
				name: a.Name, previous: a, stopPrevious: true, stopReason: "alloc is being updated due to job update",
			}
		}
	}
	for _, tg := range job.TaskGroups {
		gp := ps.newGroupPlacer(tg)
		var queued int32
		name := AllocName(job.Id, tg.Name, 0)
		for _, ns := range ps.nodes {
			if ps.interrupted() {
				return nil, ErrInterrupted
			}
			if held[tg.Name][ns.node.Id] {
				continue
			}
			w, ok := replace[tg.Name][ns.node.Id]
			if !ok {
				w = placement{name: name}
			}
			if gp.placeOn(ns, w) == exhausted {
				queued++
			}
		}
		ps.recordGroup(tg.Name, queued, gp.metric)
	}
	return ps.decision(), nil
}
