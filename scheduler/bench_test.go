package scheduler_test

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// benchCluster is a state store with m ready nodes of 4,000 MHz / 8,192 MB
// spread over four racks, and job registered.
func benchCluster(m int, job *structs.Job) *state.Store {
	st := state.NewStore()
	tx := st.Begin()
	for i := 0; i < m; i++ {
		n := &structs.Node{
			Id: fmt.Sprintf("node-%05d", i), Name: "n" + strconv.Itoa(i), Datacenter: "dc1",
			Status: structs.NodeStatusReady, SchedulingEligibility: structs.NodeEligible,
			Resources:  &structs.Resources{CpuMhz: 4000, MemoryMb: 8192},
			Attributes: map[string]string{"kernel.name": "linux"},
			Meta:       map[string]string{"rack": "r" + strconv.Itoa(i%4)},
			Drivers:    map[string]*structs.DriverInfo{"mock": {Detected: true, Healthy: true}},
		}
		n.ComputedClass = structs.ComputeNodeClass(n)
		tx.UpsertNode(n)
	}
	job.JobModifyIndex = 2
	tx.UpsertJob(job)
	tx.Commit(2)
	return st
}

func benchJob(jobType string, count int32) *structs.Job {
	j := &structs.Job{
		Id: "bench", Type: jobType, TaskGroups: []*structs.TaskGroup{{
			Name: "g", Count: count,
			Constraints: []*structs.Constraint{{LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "linux"}},
			Tasks:       []*structs.Task{{Name: "t", Driver: "mock", Resources: &structs.Resources{CpuMhz: 100, MemoryMb: 128}}},
		}},
	}
	j.Canonicalize(50)
	return j
}

// runPlacement measures one scheduling pass plus the application of its
// plan to a state store, and reports placements per second and the
// allocations and bytes of one placement.
func runPlacement(b *testing.B, m int, job *structs.Job, cfg *structs.SchedulerConfiguration) {
	base := benchCluster(m, job).Snapshot()
	sched, err := scheduler.Builtin(job.Type)
	if err != nil {
		b.Fatal(err)
	}
	ids := 0
	in := scheduler.Input{
		Eval:   &structs.Evaluation{Id: "e", Namespace: "default", JobId: "bench", Type: job.Type, Priority: 50},
		Now:    time.Unix(1_700_000_000, 0),
		NewID:  func() string { ids++; return "alloc-" + strconv.Itoa(ids) },
		Config: cfg,
	}
	placed := 0
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		st := state.NewStoreFrom(base)
		d, err := sched.Schedule(st.Snapshot(), in)
		if err != nil || d.Plan == nil || d.Blocked() {
			b.Fatalf("placement failed: %v %v", err, d)
		}
		tx := st.Begin()
		tx.ApplyPlanResult(&structs.PlanResult{NodeAllocation: d.Plan.NodeAllocation}, d.Plan.Job, 3, 0)
		tx.Commit(3)
		placed = len(d.Plan.NodeAllocation)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	reportPerPlacement(b, &before, &after, b.N*placed)
	perPlacement := b.Elapsed().Seconds() / float64(b.N*placed)
	b.ReportMetric(1/perPlacement, "placements/s")
	b.ReportMetric(perPlacement*1e9, "ns/placement")
}

// BenchmarkServicePlacement places one service group of count N (100 MHz,
// 128 MB per task) on M nodes and writes the plan into the state store.
func BenchmarkServicePlacement(b *testing.B) {
	for _, shape := range []struct{ m, n int }{{100, 1000}, {1000, 10000}, {5000, 50000}} {
		b.Run(fmt.Sprintf("nodes=%d,count=%d", shape.m, shape.n), func(b *testing.B) {
			runPlacement(b, shape.m, benchJob(structs.JobTypeService, int32(shape.n)), nil)
		})
	}
}

// BenchmarkSystemPlacement places a system job on every one of 5,000 nodes.
func BenchmarkSystemPlacement(b *testing.B) {
	b.Run("nodes=5000", func(b *testing.B) {
		runPlacement(b, 5000, benchJob(structs.JobTypeSystem, 1), nil)
	})
}

// BenchmarkSpreadPlacement is the middle service shape with a spread block
// over the nodes' racks and an affinity, under the spread algorithm.
func BenchmarkSpreadPlacement(b *testing.B) {
	b.Run("nodes=1000,count=10000", func(b *testing.B) {
		job := benchJob(structs.JobTypeService, 10000)
		job.TaskGroups[0].Spreads = []*structs.Spread{{Attribute: "${meta.rack}", Weight: 50}}
		job.TaskGroups[0].Affinities = []*structs.Affinity{{LTarget: "${meta.rack}", Operand: "=", RTarget: "r1", Weight: 30}}
		runPlacement(b, 1000, job, &structs.SchedulerConfiguration{SchedulerAlgorithm: scheduler.AlgorithmSpread})
	})
}

// reportPerPlacement reports the heap allocations and bytes of one
// placement, from memory statistics around the measured loop.
func reportPerPlacement(b *testing.B, before, after *runtime.MemStats, placements int) {
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(placements), "allocs/placement")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(placements), "B/placement")
}
