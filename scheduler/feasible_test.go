package scheduler

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

func TestConstraintOperators(t *testing.T) {
	n := testNode("n1", 1000, 1000)
	n.Attributes["kernel.version"] = "5.15.0"
	n.Attributes["driver.version"] = "1.4.2-beta.1"
	n.Attributes["cpu.numcores"] = "8"
	n.Attributes["os.features"] = "avx,sse4,aes"
	n.Meta = map[string]string{"tier": "gold"}
	for _, tc := range []struct {
		l, op, r string
		holds    bool
	}{
		{"${attr.cpu.numcores}", "<", "16", true},
		{"${attr.cpu.numcores}", "<", "8", false},
		{"${attr.cpu.numcores}", "<=", "8", true},
		{"${attr.cpu.numcores}", ">", "4", true},
		{"${attr.cpu.numcores}", ">", "10", false /* numeric, not lexical ("8" > "10") */},
		{"${attr.cpu.numcores}", ">=", "8", true},
		{"${meta.tier}", "<", "silver", true},
		{"${meta.tier}", ">", "silver", false},
		{"${meta.missing}", "<", "1", false},
		{"${meta.tier}", "is", "gold", true},
		{"${meta.tier}", "not", "gold", false},
		{"${attr.kernel.version}", "version", ">= 5.10, < 6.0", true},
		{"${attr.kernel.version}", "version", ">= 6.0", false},
		{"${attr.kernel.version}", "version", "~> 5.15", true},
		{"${attr.kernel.version}", "version", "~> 5.14.1", false},
		{"${attr.kernel.version}", "version", "= 5.15", true},
		{"${attr.kernel.version}", "version", "!= 5.15.0", false},
		{"${attr.kernel.version}", "semver", ">= 5.15.0", true},
		{"${attr.kernel.version}", "semver", ">= 5.15", false},
		{"${attr.driver.version}", "semver", ">= 1.4.0", false},
		{"${attr.driver.version}", "semver", ">= 1.4.2-alpha", true},
		{"${attr.driver.version}", "semver", "< 1.4.2", false},
		{"${attr.driver.version}", "version", "< 1.4.2", true},
		{"${attr.kernel.version}", "version", "not a version", false},
		{"${attr.os.features}", "set_contains", "avx,aes", true},
		{"${attr.os.features}", "set_contains", "avx,neon", false},
		{"${attr.os.features}", "set_contains_all", "sse4", true},
		{"${attr.os.features}", "set_contains_any", "neon,aes", true},
		{"${attr.os.features}", "set_contains_any", "neon,sve", false},
		{"${attr.kernel.name}", "regexp", "[", false},
	} {
		c := &structs.Constraint{LTarget: tc.l, Operand: tc.op, RTarget: tc.r}
		t.Run(constraintString(c), func(t *testing.T) {
			st := newState(n)
			j := testJob("web", structs.JobTypeService, 1, 100, 100)
			j.TaskGroups[0].Constraints = []*structs.Constraint{c}
			st.upsertJob(j)
			d := st.schedule(t, j)
			if tc.holds {
				require.Len(t, placements(d), 1)
				return
			}
			require.Empty(t, placements(d))
			require.Equal(t, map[string]int32{constraintString(c): 1}, d.FailedTGAllocs["api"].ConstraintFiltered)
		})
	}
}

func TestDrainingNodeTakesNoPlacement(t *testing.T) {
	draining := testNode("a", 1000, 1000)
	draining.DrainStrategy = &structs.DrainStrategy{}
	st := newState(draining, testNode("b", 1000, 1000))
	j := testJob("web", structs.JobTypeService, 2, 100, 100)
	st.upsertJob(j)
	d := st.schedule(t, j)
	require.Equal(t, map[string]int{"b": 2}, placedPerNode(d))
	require.False(t, d.Blocked())
}

func TestDistinctProperty(t *testing.T) {
	var nodes []*structs.Node
	for i, rack := range []string{"r1", "r1", "r2", "r2", "r3"} {
		n := testNode(string(rune('a'+i)), 1000, 1000)
		n.Meta = map[string]string{"rack": rack}
		nodes = append(nodes, n)
	}
	for _, tc := range []struct {
		name   string
		limit  string
		count  int32
		queued int32
	}{
		{"one per rack", "", 4, 1},
		{"two per rack", "2", 5, 0},
		{"two per rack, too many", "2", 7, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(nodes...)
			j := testJob("web", structs.JobTypeService, tc.count, 100, 100)
			j.TaskGroups[0].Constraints = []*structs.Constraint{{LTarget: "${meta.rack}", Operand: "distinct_property", RTarget: tc.limit}}
			st.upsertJob(j)
			d := st.schedule(t, j)
			require.Equal(t, tc.queued, d.QueuedAllocations["api"])
			perRack := map[string]int{}
			for _, a := range placements(d) {
				perRack[st.node(a.NodeId).Meta["rack"]]++
			}
			limit := 1
			if tc.limit == "2" {
				limit = 2
			}
			for rack, n := range perRack {
				require.LessOrEqual(t, n, limit, "rack %s", rack)
			}
		})
	}
}

func TestDistinctPropertyCountsExistingAllocations(t *testing.T) {
	a, b := testNode("a", 1000, 1000), testNode("b", 1000, 1000)
	a.Meta, b.Meta = map[string]string{"rack": "r1"}, map[string]string{"rack": "r2"}
	st := newState(a, b)
	j := testJob("web", structs.JobTypeService, 1, 100, 100)
	j.Constraints = []*structs.Constraint{{LTarget: "${meta.rack}", Operand: "distinct_property"}}
	st.upsertJob(j)
	st.apply(st.schedule(t, j))
	first := st.allocs[0].NodeId
	j.TaskGroups[0].Count = 3
	d := st.schedule(t, j)
	require.Len(t, placements(d), 1, "the second rack takes one more, then none is left")
	require.NotEqual(t, first, placements(d)[0].NodeId)
	require.Equal(t, int32(1), d.QueuedAllocations["api"])
}

func TestClassEligibilityIsRecorded(t *testing.T) {
	gpu := testNode("gpu", 1000, 1000)
	gpu.NodeClass = "gpu"
	cpu := testNode("cpu", 1000, 1000)
	for _, n := range []*structs.Node{gpu, cpu} {
		n.ComputedClass = structs.ComputeNodeClass(n)
	}
	require.NotEqual(t, gpu.ComputedClass, cpu.ComputedClass)
	st := newState(gpu, cpu)
	j := testJob("web", structs.JobTypeService, 1, 100, 2000)
	j.TaskGroups[0].Constraints = []*structs.Constraint{{LTarget: "${node.class}", Operand: "=", RTarget: "gpu"}}
	st.upsertJob(j)
	d := st.schedule(t, j)
	require.True(t, d.Blocked())
	require.Equal(t, map[string]bool{gpu.ComputedClass: true, cpu.ComputedClass: false}, d.ClassEligibility)
	require.False(t, d.EscapedComputedClass)

	j.TaskGroups[0].Constraints = []*structs.Constraint{{LTarget: "${node.unique.name}", Operand: "=", RTarget: "host-gpu"}}
	require.True(t, st.schedule(t, j).EscapedComputedClass, "a node-unique constraint escapes the class")
}
