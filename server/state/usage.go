package state

import "github.com/droverhq/drover/structs"

// nodeUsage is what the live (not terminal) allocations of one node
// reserve: the sum of their tasks' cpu, memory and disk, and how many
// there are. The store keeps it up to date on every change of an
// allocation, so the scheduler and the plan applier learn a node's usage
// without reading its allocations.
type nodeUsage struct {
	CPU, MemoryMB, DiskMB int64
	Allocs                int
}

func (u nodeUsage) add(o nodeUsage, sign int64) nodeUsage {
	return nodeUsage{
		CPU: u.CPU + sign*o.CPU, MemoryMB: u.MemoryMB + sign*o.MemoryMB, DiskMB: u.DiskMB + sign*o.DiskMB,
		Allocs: u.Allocs + int(sign)*o.Allocs,
	}
}

// allocUsage is what a reserves: zero for a terminal allocation.
func allocUsage(a *structs.Allocation) nodeUsage {
	if a == nil || a.IsTerminal() {
		return nodeUsage{}
	}
	cpu, mem, disk := a.Reserved()
	return nodeUsage{CPU: cpu, MemoryMB: mem, DiskMB: disk, Allocs: 1}
}

// useAlloc moves the usage of an allocation from old to a (either nil).
func (tx *Txn) useAlloc(a, old *structs.Allocation) {
	was, is := allocUsage(old), allocUsage(a)
	if old != nil && a != nil && old.NodeId == a.NodeId && was == is {
		return
	}
	if old != nil && was.Allocs > 0 {
		tx.addUsage(old.NodeId, was, -1)
	}
	if a != nil && is.Allocs > 0 {
		tx.addUsage(a.NodeId, is, 1)
	}
}

func (tx *Txn) addUsage(nodeID string, u nodeUsage, sign int64) {
	var cur nodeUsage
	if p, ok := tx.t.usage.get(nodeID); ok {
		cur = *p
	}
	cur = cur.add(u, sign)
	if cur == (nodeUsage{}) {
		tx.t.usage = tx.t.usage.del(tx.o, nodeID)
		return
	}
	tx.t.usage = tx.t.usage.set(tx.o, nodeID, &cur)
}

// NodeUsage is what the node's live allocations reserve: the scheduler's
// UsageState.
func (s *Snapshot) NodeUsage(nodeID string) (cpuMHz, memoryMB, diskMB int64) {
	u := s.usage(nodeID)
	return u.CPU, u.MemoryMB, u.DiskMB
}

func (s *Snapshot) usage(nodeID string) nodeUsage {
	if p, ok := s.t.usage.get(nodeID); ok {
		return *p
	}
	return nodeUsage{}
}
