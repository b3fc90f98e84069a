package scheduler

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

func TestMigratingAllocationIsStoppedAndReplacedInOnePlan(t *testing.T) {
	st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
	j := testJob("web", structs.JobTypeService, 2, 100, 100)
	st.upsertJob(j)
	st.apply(st.schedule(t, j))

	// Node a drains: ineligible, its allocations marked to migrate.
	draining := st.node("a")
	draining.SchedulingEligibility = structs.NodeIneligible
	var marked []string
	for _, a := range st.allocs {
		if a.NodeId == "a" {
			a.DesiredTransition = &structs.DesiredTransition{Migrate: true}
			marked = append(marked, a.Name)
		}
	}
	require.NotEmpty(t, marked)

	d := st.schedule(t, j)
	require.False(t, d.Blocked())
	require.ElementsMatch(t, marked, names(stops(d)), "every marked allocation is stopped")
	require.ElementsMatch(t, marked, names(placements(d)), "and replaced under its name, in the same plan")
	for _, p := range placements(d) {
		require.Equal(t, "b", p.NodeId, "never on the draining node")
	}
	st.apply(d)
	require.Nil(t, st.schedule(t, j).Plan, "nothing more to do once migrated")
}
