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
	eval := in.Eval
	job := st.Job(eval.Namespace, eval.JobId)
	d := &Decision{}
	plan := newPlan(st, eval, job)
	p := newPlacer(st)
	allocs := st.AllocsByJob(eval.Namespace, eval.JobId)

	stop := func(a *structs.Allocation, why string) {
		plan.NodeUpdate = append(plan.NodeUpdate, stopAlloc(a, why))
		p.stop(a)
	}
	if job == nil || job.Stop {
		for _, a := range allocs {
			if a.DesiredStatus == structs.AllocDesiredRun {
				stop(a, "alloc not needed as job is stopped")
			}
		}
		return finish(d, plan), nil
	}

	nodes := map[string]*structs.Node{}
	for _, n := range p.nodes {
		nodes[n.Id] = n
	}
	// held[group][node] is true when a live, current allocation runs there.
	held := map[string]map[string]bool{}
	groups := map[string]*structs.TaskGroup{}
	for _, tg := range job.TaskGroups {
		groups[tg.Name] = tg
		held[tg.Name] = map[string]bool{}
	}
	for _, a := range allocs {
		if !live(a) {
			continue
		}
		tg, node := groups[a.TaskGroup], nodes[a.NodeId]
		switch {
		case tg == nil:
			stop(a, "alloc not needed as task group was removed")
		case node == nil:
			stop(a, "alloc not needed as node was removed")
		case held[tg.Name][a.NodeId]:
			stop(a, "alloc is a duplicate")
		case outdated(a, job) && !a.ClientTerminal():
			stop(a, "alloc is being updated due to job update")
		default:
			if ok, _ := feasible(job, tg, node); !ok && node.Status != structs.NodeStatusDown {
				stop(a, "alloc not needed as node is no longer feasible")
				continue
			}
			held[tg.Name][a.NodeId] = true
		}
	}
	for _, tg := range job.TaskGroups {
		var metric structs.AllocMetric
		var queued int32
		for _, n := range p.nodes {
			if held[tg.Name][n.Id] {
				continue
			}
			if ok, _ := feasible(job, tg, n); !ok {
				metric.NodesEvaluated++
				metric.NodesFiltered++
				continue
			}
			a := newAlloc(in, job, tg, AllocName(job.Id, tg.Name, 0), n)
			if ok, _ := p.fits(job, tg, n, a, &metric); !ok {
				queued++
				continue
			}
			plan.NodeAllocation = append(plan.NodeAllocation, a)
			p.add(a)
		}
		recordGroup(d, tg.Name, queued, &metric)
	}
	return finish(d, plan), nil
}
