package state

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/structs"
)

// usageFromAllocs is a node's usage the slow way: summing its allocations.
func usageFromAllocs(snap *Snapshot, nodeID string) nodeUsage {
	var u nodeUsage
	for _, a := range snap.AllocsByNode(nodeID) {
		u = u.add(allocUsage(a), 1)
	}
	return u
}

// TestNodeUsageFollowsAllocations changes allocations at random (placed,
// moved between nodes, resized, stopped, finished, collected) and checks
// after every commit that each node's kept usage is the sum of its live
// allocations, and that a restored copy of the state keeps the same.
func TestNodeUsageFollowsAllocations(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	nodes := []string{"n1", "n2", "n3", "n4"}
	statuses := []string{structs.AllocClientPending, structs.AllocClientRunning, structs.AllocClientComplete,
		structs.AllocClientFailed, structs.AllocClientLost, allocClientUnknown}
	desired := []string{structs.AllocDesiredRun, structs.AllocDesiredRun, structs.AllocDesiredStop, structs.AllocDesiredEvict}
	s := NewStore()
	for i := range 300 {
		index := uint64(i + 2)
		tx := s.Begin()
		for range 1 + rng.IntN(5) {
			id := fmt.Sprintf("a%d", rng.IntN(40))
			if rng.IntN(6) == 0 {
				tx.DeleteAlloc(id)
				continue
			}
			tx.UpsertAlloc(&structs.Allocation{
				Id: id, Namespace: "default", JobId: "web", TaskGroup: "g", NodeId: nodes[rng.IntN(len(nodes))],
				ClientStatus: statuses[rng.IntN(len(statuses))], DesiredStatus: desired[rng.IntN(len(desired))],
				TaskResources: map[string]*structs.Resources{
					"a": {CpuMhz: int64(rng.IntN(500)), MemoryMb: int64(rng.IntN(256)), DiskMb: int64(rng.IntN(100))},
					"b": {CpuMhz: 100, MemoryMb: 64},
				},
				ModifyIndex: index,
			})
		}
		tx.Commit(index)
		snap := s.Snapshot()
		for _, n := range nodes {
			require.Equal(t, usageFromAllocs(snap, n), snap.usage(n), "node %s after commit %d", n, index)
		}
	}

	snap := s.Snapshot()
	r := NewRestorer()
	require.NoError(t, snap.Walk(func(field protowire.Number, m proto.Message) error { return r.Add(field, m) }))
	restored := NewStore()
	restored.Install(r, snap.Index())
	for _, n := range nodes {
		require.Equal(t, snap.usage(n), restored.Snapshot().usage(n), "node %s restored", n)
	}
	require.NotZero(t, snap.usage("n1").Allocs+snap.usage("n2").Allocs, "the walk ends with live allocations")
}

func TestNodeUsageOfAnUnknownNodeIsZero(t *testing.T) {
	cpu, mem, disk := NewStore().Snapshot().NodeUsage("nope")
	require.Zero(t, cpu+mem+disk)
}

// The store's snapshots give the scheduler each node's usage.
var _ scheduler.UsageState = (*Snapshot)(nil)
