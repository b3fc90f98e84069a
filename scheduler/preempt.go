package scheduler

import (
	"slices"

	"github.com/droverhq/drover/structs"
)

// preemptFor looks, among nodes the group found exhausted, for one where
// evicting lower-priority allocations makes room, and returns it with the
// allocations to evict: the fewest, lowest-priority ones that free enough,
// and no more (none of them could be left running).
func (gp *groupPlacer) preemptFor() (*nodeState, []*structs.Allocation) {
	var (
		best        *nodeState
		bestVictims []*structs.Allocation
		bestCost    preemptCost
	)
	n := len(gp.exhausted)
	start := 0
	if n > 0 {
		start = gp.ps.rng.IntN(n)
	}
	for i := 0; i < min(n, preemptCandidates); i++ {
		ns := gp.ps.nodes[gp.exhausted[(start+i)%n]]
		victims, ok := gp.victims(ns)
		if !ok {
			continue
		}
		cost := costOf(victims)
		if best == nil || cost.less(bestCost) || (!bestCost.less(cost) && ns.node.Id < best.node.Id) {
			best, bestVictims, bestCost = ns, victims, cost
		}
	}
	return best, bestVictims
}

// preemptCost orders sets of victims: lower highest priority first, then
// fewer allocations, then less work evicted.
type preemptCost struct {
	maxPriority int32
	count       int
	amount      int64
}

func (c preemptCost) less(o preemptCost) bool {
	if c.maxPriority != o.maxPriority {
		return c.maxPriority < o.maxPriority
	}
	if c.count != o.count {
		return c.count < o.count
	}
	return c.amount < o.amount
}

func costOf(victims []*structs.Allocation) preemptCost {
	var c preemptCost
	for _, v := range victims {
		c.maxPriority = max(c.maxPriority, v.GetJob().GetPriority())
		c.count++
		r := allocResources(v)
		c.amount += r.cpu + r.mem
	}
	return c
}

// victims chooses what to evict on ns for the group's ask, or reports
// that evicting every eligible allocation would not be enough.
func (gp *groupPlacer) victims(ns *nodeState) ([]*structs.Allocation, bool) {
	ps := gp.ps
	if ok, _ := ns.usableNode(); !ok {
		return nil, false
	}
	c := ns.capacity
	need := resources{
		cpu:  ns.used.cpu + gp.ask.cpu - c.cpu,
		mem:  ns.used.mem + gp.ask.mem - c.mem,
		disk: ns.used.disk + gp.ask.disk - c.disk,
	}
	if c.disk <= 0 {
		need.disk = 0
	}
	var eligible, forced []*structs.Allocation
	conflicts := map[int32]bool{}
	if gp.ports != nil {
		for _, p := range gp.ports.static {
			conflicts[p.Value] = true
		}
	}
	for _, a := range ps.liveAllocs(ns) {
		if a.JobId == ps.job.Id && a.Namespace == ps.job.Namespace {
			continue
		}
		lowEnough := a.GetJob().GetPriority() <= ps.job.Priority-preemptPriorityDelta
		holdsPort := false
		for _, p := range a.AllocatedPorts {
			if conflicts[p.Value] {
				holdsPort = true
			}
		}
		switch {
		case holdsPort && !lowEnough:
			return nil, false
		case holdsPort:
			forced = append(forced, a)
		case lowEnough:
			eligible = append(eligible, a)
		}
	}
	chosen := slices.Clone(forced)
	freed := resources{}
	for _, a := range chosen {
		freed.add(allocResources(a))
	}
	enough := func(f resources) bool { return f.cpu >= need.cpu && f.mem >= need.mem && f.disk >= need.disk }
	// Lowest priority first; among equals, the one closest to what is
	// still missing, so the set stays small.
	for !enough(freed) {
		bestI, bestD := -1, 0.0
		for i, a := range eligible {
			if a == nil {
				continue
			}
			d := distance(allocResources(a), resources{cpu: need.cpu - freed.cpu, mem: need.mem - freed.mem, disk: need.disk - freed.disk})
			if bestI < 0 || a.GetJob().GetPriority() < eligible[bestI].GetJob().GetPriority() ||
				(a.GetJob().GetPriority() == eligible[bestI].GetJob().GetPriority() && d < bestD) {
				bestI, bestD = i, d
			}
		}
		if bestI < 0 {
			return nil, false
		}
		chosen = append(chosen, eligible[bestI])
		freed.add(allocResources(eligible[bestI]))
		eligible[bestI] = nil
	}
	// Give back any victim the others make unnecessary, largest first.
	slices.SortStableFunc(chosen[len(forced):], func(a, b *structs.Allocation) int {
		ra, rb := allocResources(a), allocResources(b)
		return int((rb.cpu + rb.mem) - (ra.cpu + ra.mem))
	})
	for i := len(chosen) - 1; i >= len(forced); i-- {
		without := freed
		without.sub(allocResources(chosen[i]))
		if enough(without) {
			freed = without
			chosen = slices.Delete(chosen, i, i+1)
		}
	}
	if gp.ports != nil {
		// Every port must be free once the victims are gone (a port held
		// by the job's own allocation is not preempted).
		for _, v := range chosen {
			ps.account(ns, v, -1)
		}
		ok, _ := gp.ports.fits(ps, ns)
		for _, v := range chosen {
			ps.account(ns, v, +1)
		}
		if !ok {
			return nil, false
		}
	}
	return chosen, true
}

// distance measures how far an allocation's size is from what is needed,
// each dimension relative to the need.
func distance(r, need resources) float64 {
	d := 0.0
	for _, p := range [][2]int64{{r.cpu, need.cpu}, {r.mem, need.mem}, {r.disk, need.disk}} {
		if p[1] <= 0 {
			continue
		}
		x := float64(p[1]-p[0]) / float64(p[1])
		d += x * x
	}
	return d
}
