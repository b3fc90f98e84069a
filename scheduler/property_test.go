package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

func withPorts(j *structs.Job, ports ...*structs.Port) *structs.Job {
	j.TaskGroups[0].Network = &structs.NetworkResource{Ports: ports}
	return j
}

// TestPlansNeverOvercommitOrReusePorts is a property test: random nodes,
// random existing work and random jobs, scheduled and applied pass after
// pass; after every pass no node holds more cpu, memory or disk than it
// has, and no port is given twice on a node.
func TestPlansNeverOvercommitOrReusePorts(t *testing.T) {
	for seed := uint64(0); seed < 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var nodes []*structs.Node
		for i := 0; i < 2+rng.IntN(12); i++ {
			n := testNode(fmt.Sprintf("n%02d", i), int64(500+rng.IntN(4000)), int64(500+rng.IntN(4000)))
			n.Resources.DiskMb = int64(rng.IntN(3)) * 1000
			n.MinDynamicPort, n.MaxDynamicPort = 20000, int32(20000+rng.IntN(6))
			nodes = append(nodes, n)
		}
		st := newState(nodes...)
		for k := 0; k < 6; k++ {
			jobType := []string{structs.JobTypeService, structs.JobTypeBatch, structs.JobTypeSystem}[rng.IntN(3)]
			j := testJob(fmt.Sprintf("j%d", k), jobType, int32(1+rng.IntN(15)), int64(50+rng.IntN(800)), int64(50+rng.IntN(800)))
			j.Priority = int32(20 + rng.IntN(60))
			j.TaskGroups[0].Tasks[0].Resources.DiskMb = int64(rng.IntN(400))
			var ports []*structs.Port
			if rng.IntN(2) == 0 {
				ports = append(ports, &structs.Port{Label: "static", Value: int32(9000 + rng.IntN(3))})
			}
			for p := 0; p < rng.IntN(3); p++ {
				ports = append(ports, &structs.Port{Label: fmt.Sprintf("dyn%d", p)})
			}
			if len(ports) > 0 {
				withPorts(j, ports...)
			}
			st.upsertJob(j)
			cfg := &structs.SchedulerConfiguration{SchedulerAlgorithm: AlgorithmBinpack, PreemptionConfig: &structs.PreemptionConfig{
				ServiceSchedulerEnabled: true, BatchSchedulerEnabled: true, SystemSchedulerEnabled: true,
			}}
			d := st.scheduleWith(t, j, cfg)
			st.commit(d.Plan, structs.AllocClientRunning, testNow.UnixNano())
			requireNoOvercommit(t, st, fmt.Sprintf("seed %d", seed))
		}
	}
}

func requireNoOvercommit(t *testing.T, st *fakeState, where string) {
	t.Helper()
	for _, n := range st.nodes {
		allocs := st.AllocsByNode(n.Id)
		ok, dim := AllocsFit(n, allocs)
		require.True(t, ok, "%s: node %s over-committed on %s", where, n.Id, dim)
		seen := map[int32]string{}
		for _, a := range allocs {
			if a.IsTerminal() {
				continue
			}
			for _, p := range a.AllocatedPorts {
				require.Empty(t, seen[p.Value], "%s: port %d given twice on %s", where, p.Value, n.Id)
				seen[p.Value] = a.Id
			}
		}
	}
}
