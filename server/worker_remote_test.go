package server

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// TestPlanTravelsWithItsJobOnce: a follower's plan carries the job once,
// not once per placement, and the leader gets every placement's job back.
func TestPlanTravelsWithItsJobOnce(t *testing.T) {
	job := mockJob("web", 50)
	job.Namespace = "default"
	job.Meta = map[string]string{"description": string(make([]byte, 1024))}
	other := mockJob("other", 1)
	plan := &structs.Plan{EvalId: "e1", Job: job}
	for i := range 50 {
		plan.NodeAllocation = append(plan.NodeAllocation, &structs.Allocation{
			Id: "a" + string(rune('A'+i)), Namespace: "default", JobId: "web", Job: job, NodeId: "n1",
		})
	}
	plan.NodeAllocation = append(plan.NodeAllocation, &structs.Allocation{Id: "x", Namespace: "default", JobId: "other", Job: other})
	full, err := proto.Marshal(plan)
	require.NoError(t, err)

	restore := planForWire(plan)
	wire, err := proto.Marshal(plan)
	require.NoError(t, err)
	restore()
	require.Less(t, len(wire)*5, len(full), "the job is not repeated per placement")
	for _, a := range plan.NodeAllocation[:50] {
		require.Same(t, job, a.Job, "the worker's own plan is restored")
	}

	got := &structs.Plan{}
	require.NoError(t, proto.Unmarshal(wire, got))
	planFromWire(got)
	for i, a := range got.NodeAllocation {
		require.True(t, proto.Equal(plan.NodeAllocation[i], a), "placement %d", i)
	}
	require.Same(t, got.Job, got.NodeAllocation[0].Job, "the leader's applier sees the plan's job, once")
}
