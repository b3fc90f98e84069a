package scheduler

import (
	"fmt"

	"github.com/droverhq/drover/structs"
)

// Usage is the sum of resources a set of allocations reserves.
func Usage(allocs []*structs.Allocation) *structs.Resources {
	var u resources
	for _, a := range allocs {
		if !a.IsTerminal() {
			u.add(allocResources(a))
		}
	}
	return &structs.Resources{CpuMhz: u.cpu, MemoryMb: u.mem, DiskMb: u.disk}
}

// AllocsFit reports whether the non-terminal allocations fit on node:
// cpu, memory, disk (when the node reports it) and ports (no port given
// twice, none of the node's reserved ones). When they do not, dimension
// names the first exhausted resource.
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
	reserved := reservedPorts(node)
	used := map[int32]bool{}
	for _, a := range allocs {
		if a.IsTerminal() {
			continue
		}
		for _, p := range a.AllocatedPorts {
			if used[p.Value] || reserved[p.Value] {
				return false, fmt.Sprintf("ports: %d used twice", p.Value)
			}
			used[p.Value] = true
		}
	}
	return true, ""
}

// fits checks an ask against a node's usage; dimension names what ran out.
func (ns *nodeState) fits(ask resources) (bool, string) {
	c := ns.capacity
	switch {
	case ns.used.cpu+ask.cpu > c.cpu:
		return false, "cpu"
	case ns.used.mem+ask.mem > c.mem:
		return false, "memory"
	case c.disk > 0 && ns.used.disk+ask.disk > c.disk:
		return false, "disk"
	}
	return true, ""
}

// usableNode is nodeUsable, answered once per node and pass.
func (ns *nodeState) usableNode() (bool, string) {
	if !ns.checked {
		ns.checked = true
		ns.usable, ns.unusable = nodeUsable(ns.node)
	}
	return ns.usable, ns.unusable
}
