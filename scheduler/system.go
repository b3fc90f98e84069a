package scheduler

import (
	"github.com/droverhq/drover/structs"
)

// systemScheduler serves system and sysbatch jobs: one allocation of each
// group on every feasible node.
type systemScheduler struct{}

// Schedule places the job on feasible nodes that lack it and stops it on
// nodes that are no longer feasible.
func (systemScheduler) Schedule(st State, in Input) (*Decision, error) {
	ps := newPass(st, in)
	if ps.stopIfJobStopped() {
		return ps.decision(), nil
	}
	job := ps.job
	nodes := map[string]*structs.Node{}
	for _, n := range ps.p.nodes {
		nodes[n.Id] = n
	}
	// held[group][node] is true when a live, current allocation runs there.
	held := map[string]map[string]bool{}
	groups := map[string]*structs.TaskGroup{}
	for _, tg := range job.TaskGroups {
		groups[tg.Name] = tg
		held[tg.Name] = map[string]bool{}
	}
	for _, a := range ps.allocs {
		if !live(a) {
			continue
		}
		tg, node := groups[a.TaskGroup], nodes[a.NodeId]
		switch {
		case tg == nil:
			ps.stop(a, "alloc not needed as task group was removed")
		case node == nil:
			ps.stop(a, "alloc not needed as node was removed")
		case held[tg.Name][a.NodeId]:
			ps.stop(a, "alloc is a duplicate")
		case outdated(a, job) && a.ClientStatus != structs.AllocClientComplete:
			ps.stop(a, "alloc is being updated due to job update")
		default:
			if ok, _ := feasible(job, tg, node); !ok && node.Status != structs.NodeStatusDown {
				ps.stop(a, "alloc not needed as node is no longer feasible")
				continue
			}
			held[tg.Name][a.NodeId] = true
		}
	}
	for _, tg := range job.TaskGroups {
		var metric structs.AllocMetric
		var queued int32
		for _, n := range ps.p.nodes {
			if held[tg.Name][n.Id] {
				continue
			}
			if ok, _ := feasible(job, tg, n); !ok {
				metric.NodesEvaluated++
				metric.NodesFiltered++
				continue
			}
			a := newAlloc(in, job, tg, AllocName(job.Id, tg.Name, 0), n)
			if ok, _ := ps.p.fits(job, tg, n, a, &metric); !ok {
				queued++
				continue
			}
			ps.place(a)
		}
		recordGroup(ps.d, tg.Name, queued, &metric)
	}
	return ps.decision(), nil
}
