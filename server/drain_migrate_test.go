package server

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

func TestDrainMigratesMaxParallelAtATime(t *testing.T) {
	job := &structs.Job{Id: "web", Namespace: "default", Type: structs.JobTypeService, TaskGroups: []*structs.TaskGroup{{
		Name: "api", Count: 4, Migrate: &structs.MigrateStrategy{MaxParallel: proto.Int32(2)},
	}}}
	st := state.NewStore()
	tx := st.Begin()
	tx.UpsertJob(job)
	drain := &structs.DrainStrategy{Deadline: durationpb.New(0)}
	for _, n := range []string{"a", "b"} {
		tx.UpsertNode(&structs.Node{Id: n, DrainStrategy: drain})
	}
	tx.UpsertNode(&structs.Node{Id: "c"})
	// Four healthy allocations, two on each draining node.
	for i := range 4 {
		tx.UpsertAlloc(&structs.Allocation{
			Id: fmt.Sprintf("x%d", i), Namespace: "default", JobId: "web", Job: job, TaskGroup: "api",
			NodeId: []string{"a", "b"}[i%2], DesiredStatus: structs.AllocDesiredRun, ClientStatus: structs.AllocClientRunning,
			DeploymentStatus: &structs.AllocDeploymentStatus{Healthy: proto.Bool(true)},
		})
	}
	tx.Commit(1)

	marked := func() []string {
		snap := st.Snapshot()
		budget := newMigrateBudget(snap)
		var out []string
		for _, n := range []string{"a", "b"} {
			for id := range planDrainWithin(snap, snap.Node(n), false, budget).marks {
				out = append(out, id)
			}
		}
		return out
	}
	first := marked()
	require.Len(t, first, 2, "max_parallel across both draining nodes")

	// The scheduler stops the marked ones and places replacements on c.
	tx = st.Begin()
	for i, id := range first {
		a := state.CloneAlloc(tx.Alloc(id))
		a.DesiredStatus, a.DesiredTransition = structs.AllocDesiredStop, &structs.DesiredTransition{Migrate: true}
		tx.UpsertAlloc(a)
		tx.UpsertAlloc(&structs.Allocation{Id: fmt.Sprintf("r%d", i), Namespace: "default", JobId: "web", Job: job,
			TaskGroup: "api", NodeId: "c", DesiredStatus: structs.AllocDesiredRun, ClientStatus: structs.AllocClientRunning})
	}
	tx.Commit(2)
	require.Empty(t, marked(), "the replacements are not healthy yet")

	tx = st.Begin()
	a := state.CloneAlloc(tx.Alloc("r0"))
	a.DeploymentStatus = &structs.AllocDeploymentStatus{Healthy: proto.Bool(true)}
	tx.UpsertAlloc(a)
	tx.Commit(3)
	require.Len(t, marked(), 1, "one replacement healthy: one more may go")

	snap := st.Snapshot()
	left := 0
	for _, n := range []string{"a", "b"} {
		left += len(planDrainWithin(snap, snap.Node(n), true, newMigrateBudget(snap)).marks)
	}
	require.Equal(t, 2, left, "past the deadline whatever is left goes")
}
