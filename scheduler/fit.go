package scheduler

import "github.com/droverhq/drover/structs"

// Usage is the sum of resources a set of allocations reserves.
func Usage(allocs []*structs.Allocation) *structs.Resources {
	u := &structs.Resources{}
	for _, a := range allocs {
		if a.IsTerminal() {
			continue
		}
		for _, r := range a.TaskResources {
			u.CpuMhz += r.GetCpuMhz()
			u.MemoryMb += r.GetMemoryMb()
			u.DiskMb += r.GetDiskMb()
		}
	}
	return u
}

// AllocsFit reports whether the non-terminal allocations fit on node; when
// they do not, dimension names the first exhausted resource.
func AllocsFit(node *structs.Node, allocs []*structs.Allocation) (ok bool, dimension string) {
	u := Usage(allocs)
	capacity := node.GetResources()
	switch {
	case u.CpuMhz > capacity.GetCpuMhz():
		return false, "cpu"
	case u.MemoryMb > capacity.GetMemoryMb():
		return false, "memory"
	case capacity.GetDiskMb() > 0 && u.DiskMb > capacity.GetDiskMb():
		return false, "disk"
	}
	return true, ""
}

// binpackScore rates how full node would be with allocs placed: higher is
// fuller, so placements pack onto fewer nodes.
func binpackScore(node *structs.Node, allocs []*structs.Allocation) float64 {
	u := Usage(allocs)
	capacity := node.GetResources()
	score := 0.0
	if c := capacity.GetCpuMhz(); c > 0 {
		score += float64(u.CpuMhz) / float64(c)
	}
	if m := capacity.GetMemoryMb(); m > 0 {
		score += float64(u.MemoryMb) / float64(m)
	}
	return score / 2
}
