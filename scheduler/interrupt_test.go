package scheduler

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

// runInterruptible runs one pass of j's scheduler with interrupt, counting
// the ids it asks for.
func runInterruptible(st *fakeState, j *structs.Job, interrupt func() bool) (*Decision, int, error) {
	sched, err := Builtin(j.Type)
	if err != nil {
		return nil, 0, err
	}
	ids := 0
	d, err := sched.Schedule(st, Input{
		Eval: &structs.Evaluation{Id: "eval-1", Namespace: j.Namespace, JobId: j.Id, Type: j.Type, Priority: 50,
			Status: structs.EvalStatusPending, TriggeredBy: structs.EvalTriggerJobRegister},
		Now:       testNow,
		NewID:     func() string { ids++; return fmt.Sprintf("alloc-%03d", ids) },
		Interrupt: interrupt,
	})
	return d, ids, err
}

func TestHugeCountPassStopsPromptlyWhenCancelled(t *testing.T) {
	st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
	j := testJob("huge", structs.JobTypeService, math.MaxInt32, 10, 10)
	st.upsertJob(j)

	// Cancelled while the pass runs: the context is cancelled at the
	// tenth question, and the pass stops at that very question.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	asked := 0
	d, ids, err := runInterruptible(st, j, func() bool {
		asked++
		if asked == 10 {
			cancel()
		}
		return ctx.Err() != nil
	})
	require.ErrorIs(t, err, ErrInterrupted)
	require.Nil(t, d, "the decision is discarded")
	require.Equal(t, 10, asked, "asked every %d steps and stopped at the first yes", InterruptEvery)
	require.Zero(t, ids, "nothing was placed")

	// Cancelled before the pass: it stops at its first step.
	asked = 0
	d, _, err = runInterruptible(st, j, func() bool { asked++; return true })
	require.ErrorIs(t, err, ErrInterrupted)
	require.Nil(t, d)
	require.Equal(t, 1, asked)
}

func TestPlacementStopsWhenInterrupted(t *testing.T) {
	st := newState(testNode("a", 100_000, 100_000), testNode("b", 100_000, 100_000))
	j := testJob("web", structs.JobTypeService, 1000, 10, 10)
	st.upsertJob(j)
	var ids int
	sched, _ := Builtin(j.Type)
	d, err := sched.Schedule(st, Input{
		Eval:  &structs.Evaluation{Id: "eval-1", Namespace: j.Namespace, JobId: j.Id, Type: j.Type, Priority: 50},
		Now:   testNow,
		NewID: func() string { ids++; return fmt.Sprintf("alloc-%03d", ids) },
		// Placements have begun once an id was asked for.
		Interrupt: func() bool { return ids > 0 },
	})
	require.ErrorIs(t, err, ErrInterrupted)
	require.Nil(t, d)
	require.Positive(t, ids)
	require.LessOrEqual(t, ids, InterruptEvery, "stopped within one interval of placements")
}

func TestSystemPassStopsWhenInterrupted(t *testing.T) {
	var nodes []*structs.Node
	for i := range 500 {
		nodes = append(nodes, testNode(fmt.Sprintf("n%03d", i), 1000, 1000))
	}
	st := newState(nodes...)
	j := testJob("sys", structs.JobTypeSystem, 1, 10, 10)
	st.upsertJob(j)
	asked := 0
	d, ids, err := runInterruptible(st, j, func() bool { asked++; return asked == 2 })
	require.ErrorIs(t, err, ErrInterrupted)
	require.Nil(t, d)
	require.Equal(t, 2, asked)
	require.LessOrEqual(t, ids, InterruptEvery)
}

func TestAnInterruptThatNeverFiresChangesNothing(t *testing.T) {
	st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
	j := testJob("web", structs.JobTypeService, 200, 10, 10)
	st.upsertJob(j)
	want := st.clone().schedule(t, j)
	asked := 0
	d, _, err := runInterruptible(st, j, func() bool { asked++; return false })
	require.NoError(t, err)
	require.Equal(t, names(want.Plan.NodeAllocation), names(d.Plan.NodeAllocation))
	require.Equal(t, placedPerNode(want), placedPerNode(d))
	require.Greater(t, asked, 200/InterruptEvery, "asked as the pass went")
}
