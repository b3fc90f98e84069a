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

func TestEvaluatePlanKeepsAReplacedAllocationUntilItsReplacementFits(t *testing.T) {
	st := state.NewStore()
	tx := st.Begin()
	draining := testNode("draining", 1000, 1000)
	draining.DrainStrategy = &structs.DrainStrategy{}
	tx.UpsertNode(draining)
	tx.UpsertNode(testNode("full", 1000, 1000))
	tx.UpsertNode(testNode("roomy", 1000, 1000))
	tx.UpsertAlloc(testAlloc("old1", "draining", 100, 100))
	tx.UpsertAlloc(testAlloc("old2", "draining", 100, 100))
	tx.UpsertAlloc(testAlloc("other", "full", 950, 950))
	tx.Commit(5)

	repl := func(id, node, prev string) *structs.Allocation {
		a := testAlloc(id, node, 100, 100)
		a.PreviousAllocation = prev
		return a
	}
	plan := &structs.Plan{
		NodeAllocation: []*structs.Allocation{repl("new1", "full", "old1"), repl("new2", "roomy", "old2")},
		NodeUpdate:     []*structs.Allocation{stopOf(testAlloc("old1", "draining", 0, 0)), stopOf(testAlloc("old2", "draining", 0, 0))},
	}
	res := evaluatePlan(st.Snapshot(), plan)
	require.Equal(t, []string{"full"}, res.RefusedNodes)
	require.Len(t, res.NodeAllocation, 1)
	require.Equal(t, "new2", res.NodeAllocation[0].Id)
	require.Len(t, res.NodeUpdate, 1, "old1 keeps running: its replacement was refused")
	require.Equal(t, "old2", res.NodeUpdate[0].Id)
}

func TestEvaluatePlanNodeStates(t *testing.T) {
	st := state.NewStore()
	tx := st.Begin()
	inel := testNode("inel", 1000, 1000)
	inel.SchedulingEligibility = structs.NodeIneligible
	drain := testNode("drain", 1000, 1000)
	drain.DrainStrategy = &structs.DrainStrategy{}
	tx.UpsertNode(inel)
	tx.UpsertNode(drain)
	tx.UpsertAlloc(testAlloc("running", "inel", 100, 100))
	tx.Commit(5)
	inPlace := testAlloc("running", "inel", 100, 100)
	res := evaluatePlan(st.Snapshot(), &structs.Plan{NodeAllocation: []*structs.Allocation{inPlace}})
	require.Empty(t, res.RefusedNodes, "an in-place update on an ineligible node is fine")
	res = evaluatePlan(st.Snapshot(), &structs.Plan{NodeAllocation: []*structs.Allocation{
		testAlloc("new-on-inel", "inel", 10, 10), testAlloc("new-on-drain", "drain", 10, 10),
	}})
	require.ElementsMatch(t, []string{"inel", "drain"}, res.RefusedNodes, "new placements need an eligible node that is not draining")
}

func TestEvaluatePlanChecksPortsAndPreemptions(t *testing.T) {
	st := state.NewStore()
	tx := st.Begin()
	tx.UpsertNode(testNode("a", 1000, 1000))
	holder := testAlloc("holder", "a", 900, 900)
	holder.AllocatedPorts = []*structs.AllocatedPort{{Label: "http", Value: 8080}}
	tx.UpsertAlloc(holder)
	tx.Commit(5)
	want := testAlloc("new", "a", 500, 500)
	want.AllocatedPorts = []*structs.AllocatedPort{{Label: "http", Value: 8080}}

	res := evaluatePlan(st.Snapshot(), &structs.Plan{NodeAllocation: []*structs.Allocation{want}})
	require.Equal(t, []string{"a"}, res.RefusedNodes, "without the eviction there is neither room nor the port")
	res = evaluatePlan(st.Snapshot(), &structs.Plan{
		NodeAllocation:  []*structs.Allocation{want},
		NodePreemptions: []*structs.Allocation{{Id: "holder", NodeId: "a", JobId: "j", Namespace: "default"}},
	})
	require.Empty(t, res.RefusedNodes)
	require.Len(t, res.NodePreemptions, 1)
}
