package scheduler

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

func rackNodes(racks ...string) []*structs.Node {
	var nodes []*structs.Node
	for i, r := range racks {
		n := testNode(fmt.Sprintf("n%02d", i), 10000, 10000)
		n.Meta = map[string]string{"rack": r}
		nodes = append(nodes, n)
	}
	return nodes
}

func perValue(st *fakeState, d *Decision, key string) map[string]int {
	out := map[string]int{}
	for _, a := range placements(d) {
		out[st.node(a.NodeId).Meta[key]]++
	}
	return out
}

func TestRankingChoices(t *testing.T) {
	for _, tc := range []struct {
		name   string
		nodes  []*structs.Node
		algo   string
		modify func(j *structs.Job)
		count  int32
		want   map[string]int // placements per rack
	}{
		{
			name: "spread block spreads evenly over racks", nodes: rackNodes("a", "a", "a", "a", "b", "b", "c"),
			modify: func(j *structs.Job) { j.TaskGroups[0].Spreads = []*structs.Spread{{Attribute: "${meta.rack}"}} },
			count:  6, want: map[string]int{"a": 2, "b": 2, "c": 2},
		},
		{
			name: "spread targets are met", nodes: rackNodes("a", "a", "b", "b", "c", "c"),
			modify: func(j *structs.Job) {
				j.TaskGroups[0].Spreads = []*structs.Spread{{Attribute: "${meta.rack}", Weight: 100, Targets: []*structs.SpreadTarget{
					{Value: "a", Percent: 70}, {Value: "b", Percent: 30},
				}}}
			},
			count: 10, want: map[string]int{"a": 7, "b": 3},
		},
		{
			name: "job-level spread", nodes: rackNodes("a", "b", "a", "b"),
			modify: func(j *structs.Job) { j.Spreads = []*structs.Spread{{Attribute: "${meta.rack}"}} },
			count:  4, want: map[string]int{"a": 2, "b": 2},
		},
		{
			name: "positive affinity attracts", nodes: rackNodes("a", "a", "b", "b", "b", "b"),
			modify: func(j *structs.Job) {
				j.TaskGroups[0].Affinities = []*structs.Affinity{{LTarget: "${meta.rack}", Operand: "=", RTarget: "a", Weight: 100}}
			},
			count: 2, want: map[string]int{"a": 2},
		},
		{
			name: "negative affinity repels", nodes: rackNodes("a", "a", "a", "b"),
			modify: func(j *structs.Job) {
				j.Affinities = []*structs.Affinity{{LTarget: "${meta.rack}", Operand: "=", RTarget: "a", Weight: -100}}
			},
			count: 1, want: map[string]int{"b": 1},
		},
		{
			name: "task affinity counts too", nodes: rackNodes("a", "b", "b", "b"),
			modify: func(j *structs.Job) {
				j.TaskGroups[0].Tasks[0].Affinities = []*structs.Affinity{{LTarget: "${meta.rack}", Operand: "=", RTarget: "a", Weight: 50}}
			},
			count: 1, want: map[string]int{"a": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(tc.nodes...)
			j := testJob("web", structs.JobTypeService, tc.count, 100, 100)
			tc.modify(j)
			st.upsertJob(j)
			d := st.schedule(t, j)
			require.False(t, d.Blocked())
			require.Equal(t, tc.want, perValue(st, d, "rack"))
		})
	}
}

func TestSpreadAlgorithmPrefersEmptierNodes(t *testing.T) {
	for _, tc := range []struct {
		algo string
		want map[string]int
	}{
		{AlgorithmBinpack, map[string]int{"busy": 1}},
		{AlgorithmSpread, map[string]int{"empty": 1}},
	} {
		t.Run(tc.algo, func(t *testing.T) {
			st := newState(testNode("empty", 1000, 1000), testNode("busy", 1000, 1000))
			st.allocs = []*structs.Allocation{otherAlloc("x", "busy", 500, 500)}
			j := testJob("web", structs.JobTypeService, 1, 100, 100)
			st.upsertJob(j)
			d := st.scheduleWith(t, j, &structs.SchedulerConfiguration{SchedulerAlgorithm: tc.algo})
			require.Equal(t, tc.want, placedPerNode(d))
		})
	}
}

func TestSpreadStaysEvenAcrossPasses(t *testing.T) {
	st := newState(rackNodes("a", "a", "b", "b")...)
	j := testJob("web", structs.JobTypeService, 2, 100, 100)
	j.TaskGroups[0].Spreads = []*structs.Spread{{Attribute: "${meta.rack}"}}
	st.upsertJob(j)
	st.apply(st.schedule(t, j))
	j.TaskGroups[0].Count = 6
	d := st.schedule(t, j)
	total := perValue(st, d, "rack")
	for _, a := range st.allocs {
		total[st.node(a.NodeId).Meta["rack"]]++
	}
	require.Equal(t, map[string]int{"a": 3, "b": 3}, total, "existing allocations count toward the spread")
}

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
