package bench

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// clusterState builds a state store with n ready nodes.
func clusterState(n int) *state.Store {
	st := state.NewStore()
	tx := st.Begin()
	for i := 0; i < n; i++ {
		tx.UpsertNode(&structs.Node{
			Id: fmt.Sprintf("node-%05d", i), Name: "n" + strconv.Itoa(i), Datacenter: "dc1",
			Status: structs.NodeStatusReady, SchedulingEligibility: structs.NodeEligible,
			Resources:  &structs.Resources{CpuMhz: 4000, MemoryMb: 8192},
			Attributes: map[string]string{"kernel.name": "linux"},
			Drivers:    map[string]*structs.DriverInfo{"mock": {Detected: true, Healthy: true}},
		})
	}
	tx.Commit(1)
	return st
}

func benchJob(count int32) *structs.Job {
	j := &structs.Job{
		Id: "bench", TaskGroups: []*structs.TaskGroup{{
			Name: "g", Count: count,
			Constraints: []*structs.Constraint{{LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "linux"}},
			Tasks:       []*structs.Task{{Name: "t", Driver: "mock", Resources: &structs.Resources{CpuMhz: 100, MemoryMb: 128}}},
		}},
	}
	j.Canonicalize(50)
	return j
}

// BenchmarkServicePlacement measures one scheduling pass placing a group of
// 100 allocations onto clusters of growing size.
func BenchmarkServicePlacement(b *testing.B) {
	for _, nodes := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("nodes=%d/place=100", nodes), func(b *testing.B) {
			st := clusterState(nodes)
			tx := st.Begin()
			tx.UpsertJob(benchJob(100))
			tx.Commit(2)
			snap := st.Snapshot()
			sched, _ := scheduler.Builtin(structs.JobTypeService)
			eval := &structs.Evaluation{Id: "e", Namespace: "default", JobId: "bench", Type: "service", Priority: 50}
			n := 0
			in := scheduler.Input{Eval: eval, Now: time.Unix(0, 0), NewID: func() string { n++; return strconv.Itoa(n) }}
			b.ResetTimer()
			for range b.N {
				d, err := sched.Schedule(snap, in)
				if err != nil || d.Plan == nil || len(d.Plan.NodeAllocation) != 100 {
					b.Fatalf("placement failed: %v %v", err, d)
				}
			}
		})
	}
}
