package state

import (
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// decoded returns m as the FSM receives it: through the wire, so that no
// string or map is shared with m or with any other decoded copy.
func decoded[M proto.Message](t testing.TB, m M) M {
	t.Helper()
	data, err := proto.Marshal(m)
	require.NoError(t, err)
	out := m.ProtoReflect().New().Interface().(M)
	require.NoError(t, proto.Unmarshal(data, out))
	return out
}

// placement is allocation i of job web's group, placed on node, with the
// metrics of a pass that had evaluated `evaluated` nodes.
func placement(i int, group, node string, cpu int64, evaluated int32) *structs.Allocation {
	return &structs.Allocation{
		Id: fmt.Sprintf("alloc-%03d", i), Namespace: "default", JobId: "web", TaskGroup: group,
		Name: fmt.Sprintf("web.%s[%d]", group, i), NodeId: node, NodeName: node + "-name",
		EvalId: "eval-1", DesiredStatus: structs.AllocDesiredRun, ClientStatus: structs.AllocClientPending,
		TaskResources: map[string]*structs.Resources{"task": {CpuMhz: cpu, MemoryMb: 64}},
		Metrics: &structs.AllocMetric{NodesEvaluated: evaluated, NodesInPool: 3,
			NodesAvailable: map[string]int32{"dc1": 3}},
	}
}

func mapPtr(m any) unsafe.Pointer { return reflect.ValueOf(m).UnsafePointer() }

// TestPlanPlacementsShareWhatTheyRepeat checks that the placements of a
// plan, each decoded with its own copies, are stored with one copy of what
// they repeat (strings, equal task resources, equal metrics and metric
// tables) and with the same content they arrived with.
func TestPlanPlacementsShareWhatTheyRepeat(t *testing.T) {
	var placements []*structs.Allocation
	for i := range 6 {
		// Two groups of different sizes; the metrics of the first three
		// are equal, the others differ in their counters only.
		group, cpu := "api", int64(100)
		if i%2 == 1 {
			group, cpu = "worker", 500
		}
		evaluated := int32(3)
		if i >= 3 {
			evaluated = int32(i)
		}
		placements = append(placements, placement(i, group, fmt.Sprintf("node-%d", i%2), cpu, evaluated))
	}
	res := decoded(t, &structs.PlanResult{NodeAllocation: placements})
	want := map[string]*structs.Allocation{}
	for _, a := range res.NodeAllocation {
		want[a.Id] = proto.CloneOf(a)
	}

	s := NewStore()
	tx := s.Begin()
	tx.ApplyPlanResult(res, &structs.Job{Id: "web", Namespace: "default"}, 5, 1)
	tx.Commit(5)
	snap := s.Snapshot()

	got := snap.AllocsByJob("default", "web")
	require.Len(t, got, 6)
	for _, a := range got {
		w := want[a.Id]
		require.True(t, proto.Equal(w.Metrics, a.Metrics), "metrics of %s", a.Id)
		require.Equal(t, len(w.TaskResources), len(a.TaskResources))
		for k, r := range w.TaskResources {
			require.True(t, proto.Equal(r, a.TaskResources[k]), "resources of %s", a.Id)
		}
		require.Equal(t, []string{w.Namespace, w.JobId, w.TaskGroup, w.NodeId, w.NodeName, w.EvalId, w.DesiredStatus, w.ClientStatus},
			[]string{a.Namespace, a.JobId, a.TaskGroup, a.NodeId, a.NodeName, a.EvalId, a.DesiredStatus, a.ClientStatus})
	}
	byID := map[string]*structs.Allocation{}
	for _, a := range got {
		byID[a.Id] = a
	}
	a0, a1, a2, a3, a4 := byID["alloc-000"], byID["alloc-001"], byID["alloc-002"], byID["alloc-003"], byID["alloc-004"]

	// Strings: one copy each.
	require.Equal(t, unsafe.StringData(a0.JobId), unsafe.StringData(a1.JobId))
	require.Equal(t, unsafe.StringData(a0.EvalId), unsafe.StringData(a3.EvalId))
	require.Equal(t, unsafe.StringData(a0.NodeId), unsafe.StringData(a2.NodeId))
	require.Equal(t, unsafe.StringData(a0.ClientStatus), unsafe.StringData(a1.ClientStatus))
	// and the canonical ones, which later plans and updates get too.
	for _, a := range got {
		for _, s := range []string{a.Namespace, a.JobId, a.TaskGroup, a.NodeId, a.NodeName, a.EvalId, a.DesiredStatus, a.ClientStatus} {
			require.Equal(t, unsafe.StringData(Intern(s)), unsafe.StringData(s), "%q of %s", s, a.Id)
		}
	}
	// Task resources: shared within a group, not across groups.
	require.Equal(t, mapPtr(a0.TaskResources), mapPtr(a2.TaskResources))
	require.Equal(t, mapPtr(a1.TaskResources), mapPtr(a3.TaskResources))
	require.NotEqual(t, mapPtr(a0.TaskResources), mapPtr(a1.TaskResources))
	// Metrics: equal ones are one object; different ones share their
	// equal tables.
	require.Same(t, a0.Metrics, a1.Metrics)
	require.Same(t, a0.Metrics, a2.Metrics)
	require.NotSame(t, a3.Metrics, a4.Metrics)
	require.Equal(t, mapPtr(a0.Metrics.NodesAvailable), mapPtr(a4.Metrics.NodesAvailable))
}

// TestRestoreSharesWithoutChangingItsInput checks that a restore stores
// allocations sharing what they repeat, and leaves the objects it was
// given as they were (a snapshot's objects may still be in use).
func TestRestoreSharesWithoutChangingItsInput(t *testing.T) {
	var allocs []*structs.Allocation
	for i := range 4 {
		allocs = append(allocs, placement(i, "api", "node-1", 100, int32(i)))
	}
	snap := decoded(t, &structs.StateSnapshot{Index: 9, Allocations: allocs})
	before := proto.CloneOf(snap)
	metricTables := map[unsafe.Pointer]bool{}
	for _, a := range snap.Allocations {
		metricTables[mapPtr(a.Metrics.NodesAvailable)] = true
	}

	s := NewStore()
	s.Restore(snap)

	require.True(t, proto.Equal(before, snap), "the restore changed its input")
	for _, a := range snap.Allocations {
		require.True(t, metricTables[mapPtr(a.Metrics.NodesAvailable)], "the restore replaced a table of its input")
	}
	got := s.Snapshot().AllocsByNode("node-1")
	require.Len(t, got, 4)
	for i, a := range got {
		require.True(t, proto.Equal(before.Allocations[i], a), "allocation %s", a.Id)
		require.Equal(t, mapPtr(got[0].TaskResources), mapPtr(a.TaskResources))
		require.Equal(t, mapPtr(got[0].Metrics.NodesAvailable), mapPtr(a.Metrics.NodesAvailable))
	}
}

// BenchmarkPlanAllocationsHeld reports the heap a stored allocation holds
// once placed by a plan decoded from a raft entry (50 allocations a plan,
// 10 groups, 100 nodes).
func BenchmarkPlanAllocationsHeld(b *testing.B) {
	const perPlan = 50
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := NewStore()
	job := &structs.Job{Id: "web", Namespace: "default"}
	plans := make([]*structs.PlanResult, 0, b.N/perPlan+1)
	for p := 0; p*perPlan < b.N; p++ {
		var allocs []*structs.Allocation
		for i := p * perPlan; i < min((p+1)*perPlan, b.N); i++ {
			a := placement(i, fmt.Sprintf("g%d", i%10), fmt.Sprintf("node-%d", i%100), 100, int32(i%perPlan))
			a.Id = fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
			allocs = append(allocs, a)
		}
		plans = append(plans, decoded(b, &structs.PlanResult{NodeAllocation: allocs}))
	}
	b.ResetTimer()
	for i, res := range plans {
		tx := s.Begin()
		tx.ApplyPlanResult(res, job, uint64(i+2), 1)
		tx.Commit(uint64(i + 2))
	}
	b.StopTimer()
	plans = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-B/alloc")
	runtime.KeepAlive(s)
}
