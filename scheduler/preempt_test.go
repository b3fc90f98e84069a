package scheduler

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

var preemptAll = &structs.SchedulerConfiguration{SchedulerAlgorithm: AlgorithmBinpack, PreemptionConfig: &structs.PreemptionConfig{
	ServiceSchedulerEnabled: true, BatchSchedulerEnabled: true, SystemSchedulerEnabled: true, SysbatchSchedulerEnabled: true,
}}

// lowAlloc is a running allocation of a job of the given priority.
func lowAlloc(id, node string, prio int32, cpu, mem int64) *structs.Allocation {
	a := otherAlloc(id, node, cpu, mem)
	a.JobId = "low-" + id
	a.Job = &structs.Job{Id: a.JobId, Priority: prio}
	return a
}

func TestPreemptionFreesExactlyEnough(t *testing.T) {
	for _, tc := range []struct {
		name    string
		others  []*structs.Allocation
		cpu     int64
		evicted []string
	}{
		{
			name:   "three of ten equal allocations for 250 MHz",
			others: tenOf(100),
			cpu:    250, evicted: []string{"x0", "x1", "x2"},
		},
		{
			name: "the one big enough rather than several small",
			others: []*structs.Allocation{
				lowAlloc("small1", "a", 10, 100, 10), lowAlloc("small2", "a", 10, 100, 10),
				lowAlloc("big", "a", 10, 400, 10), lowAlloc("rest", "a", 10, 400, 10),
			},
			cpu: 350, evicted: []string{"big"},
		},
		{
			name: "the lowest priority first",
			others: []*structs.Allocation{
				lowAlloc("p30", "a", 30, 500, 10), lowAlloc("p10", "a", 10, 500, 10),
			},
			cpu: 400, evicted: []string{"p10"},
		},
		{
			name: "not a job within ten of the priority",
			others: []*structs.Allocation{
				lowAlloc("p65", "a", 65, 600, 10), lowAlloc("p10", "a", 10, 400, 10),
			},
			cpu: 500, evicted: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(testNode("a", 1000, 1000))
			st.allocs = tc.others
			j := testJob("urgent", structs.JobTypeService, 1, tc.cpu, 10)
			j.Priority = 70
			st.upsertJob(j)
			d := st.scheduleWith(t, j, preemptAll)
			var got []string
			if d.Plan != nil {
				for _, p := range d.Plan.NodePreemptions {
					got = append(got, p.Id)
					require.Equal(t, structs.AllocDesiredEvict, p.DesiredStatus)
					require.Equal(t, placements(d)[0].Id, p.PreemptedByAllocation)
				}
			}
			require.ElementsMatch(t, tc.evicted, got)
			if tc.evicted == nil {
				require.True(t, d.Blocked())
				return
			}
			require.ElementsMatch(t, got, placements(d)[0].PreemptedAllocations)
			st.applyWithPreemptions(d)
			requireNoOvercommit(t, st, tc.name)
		})
	}
}

func tenOf(cpu int64) []*structs.Allocation {
	var out []*structs.Allocation
	for i := 0; i < 10; i++ {
		out = append(out, lowAlloc(fmt.Sprintf("x%d", i), "a", 10, cpu, 10))
	}
	return out
}

func TestPreemptionFollowsTheConfiguration(t *testing.T) {
	for _, tc := range []struct {
		jobType string
		cfg     *structs.SchedulerConfiguration
		preempt bool
	}{
		{structs.JobTypeService, nil, false},
		{structs.JobTypeService, preemptAll, true},
		{structs.JobTypeSystem, nil, true}, // Nomad's default: on for system jobs
		{structs.JobTypeBatch, nil, false},
	} {
		t.Run(fmt.Sprintf("%s/%v", tc.jobType, tc.cfg != nil), func(t *testing.T) {
			st := newState(testNode("a", 1000, 1000))
			st.allocs = tenOf(100)
			j := testJob("urgent", tc.jobType, 1, 300, 10)
			j.Priority = 70
			st.upsertJob(j)
			d := st.scheduleWith(t, j, tc.cfg)
			require.Equal(t, tc.preempt, !d.Blocked())
		})
	}
}

func TestPreemptionForAStaticPort(t *testing.T) {
	st := newState(testNode("a", 10000, 10000))
	holder := lowAlloc("holder", "a", 10, 100, 100)
	holder.AllocatedPorts = []*structs.AllocatedPort{{Label: "http", Value: 8080}}
	st.allocs = []*structs.Allocation{holder, lowAlloc("other", "a", 10, 100, 100)}
	j := withPorts(testJob("urgent", structs.JobTypeService, 1, 100, 100), &structs.Port{Label: "http", Value: 8080})
	j.Priority = 70
	st.upsertJob(j)
	d := st.scheduleWith(t, j, preemptAll)
	require.Len(t, d.Plan.NodePreemptions, 1)
	require.Equal(t, "holder", d.Plan.NodePreemptions[0].Id, "only the port's holder is evicted")
}
