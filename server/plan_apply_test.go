package server

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

func testNode(id string, cpu, mem int64) *structs.Node {
	return &structs.Node{
		Id: id, Name: id, Status: structs.NodeStatusReady, SchedulingEligibility: structs.NodeEligible,
		Resources: &structs.Resources{CpuMhz: cpu, MemoryMb: mem},
	}
}

func testAlloc(id, node string, cpu, mem int64) *structs.Allocation {
	return &structs.Allocation{
		Id: id, Namespace: "default", JobId: "j", NodeId: node, DesiredStatus: structs.AllocDesiredRun,
		ClientStatus:  structs.AllocClientRunning,
		TaskResources: map[string]*structs.Resources{"t": {CpuMhz: cpu, MemoryMb: mem}},
	}
}

func TestEvaluatePlanRefusesNodesThatNoLongerFit(t *testing.T) {
	st := state.NewStore()
	tx := st.Begin()
	tx.UpsertNode(testNode("full", 1000, 1000))
	tx.UpsertNode(testNode("roomy", 1000, 1000))
	down := testNode("down", 1000, 1000)
	down.Status = structs.NodeStatusDown
	tx.UpsertNode(down)
	// Placed by another worker after this plan's snapshot.
	tx.UpsertAlloc(testAlloc("other", "full", 800, 800))
	tx.UpsertAlloc(testAlloc("old", "roomy", 900, 900))
	tx.Commit(10)

	plan := &structs.Plan{
		NodeAllocation: []*structs.Allocation{
			testAlloc("p1", "full", 500, 500),
			testAlloc("p2", "roomy", 500, 500),
			testAlloc("p3", "down", 10, 10),
		},
		// Stopping "old" makes room for p2 on the same node.
		NodeUpdate: []*structs.Allocation{stopOf(testAlloc("old", "roomy", 900, 900))},
	}
	res := evaluatePlan(st.Snapshot(), plan)
	require.ElementsMatch(t, []string{"full", "down"}, res.RefusedNodes)
	require.Len(t, res.NodeAllocation, 1)
	require.Equal(t, "p2", res.NodeAllocation[0].Id)
	require.Len(t, res.NodeUpdate, 1, "stops are always accepted")
}

func stopOf(a *structs.Allocation) *structs.Allocation {
	a.DesiredStatus = structs.AllocDesiredStop
	return a
}
