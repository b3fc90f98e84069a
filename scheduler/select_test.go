package scheduler

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

func TestCandidatesAreBounded(t *testing.T) {
	var nodes []*structs.Node
	for i := 0; i < 500; i++ {
		nodes = append(nodes, testNode(fmt.Sprintf("n%03d", i), 1000, 1000))
	}
	st := newState(nodes...)
	j := testJob("web", structs.JobTypeService, 10, 100, 100)
	st.upsertJob(j)
	loads := 0
	counting := &countingState{fakeState: st, onNode: func() { loads++ }}
	sched, _ := Builtin(structs.JobTypeService)
	d, err := sched.Schedule(counting, Input{Eval: &structs.Evaluation{Id: "e", Namespace: "default", JobId: "web"},
		Now: testNow, NewID: func() string { st.ids++; return fmt.Sprint(st.ids) }})
	require.NoError(t, err)
	require.Len(t, placements(d), 10)
	require.LessOrEqual(t, loads, 10*candidateLimit+maxSkip, "ten placements look at a few nodes each, not at all 500")
}

// countingState counts the nodes whose allocations a pass reads.
type countingState struct {
	*fakeState
	onNode func()
}

func (c *countingState) AllocsByNode(id string) []*structs.Allocation {
	c.onNode()
	return c.fakeState.AllocsByNode(id)
}
