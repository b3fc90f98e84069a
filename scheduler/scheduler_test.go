package scheduler

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

func TestBuiltin(t *testing.T) {
	for _, tc := range []struct {
		jobType string
		want    Scheduler
	}{
		{structs.JobTypeService, genericScheduler{}},
		{structs.JobTypeBatch, genericScheduler{}},
		{structs.JobTypeSystem, systemScheduler{}},
		{structs.JobTypeSysBatch, systemScheduler{}},
		{"cron", nil},
		{"", nil},
		{"Service", nil},
	} {
		t.Run(tc.jobType, func(t *testing.T) {
			s, err := Builtin(tc.jobType)
			if tc.want == nil {
				require.Error(t, err)
				require.Contains(t, err.Error(), `"`+tc.jobType+`"`)
				require.Nil(t, s)
				return
			}
			require.NoError(t, err)
			require.IsType(t, tc.want, s)
		})
	}
}

func TestServicePlacesCountAndNamesAllocations(t *testing.T) {
	st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
	j := testJob("web", structs.JobTypeService, 3, 100, 100)
	st.upsertJob(j)

	d := st.schedule(t, j)
	require.False(t, d.Blocked())
	require.Empty(t, d.FailedTGAllocs)
	require.Equal(t, map[string]int32{"api": 0}, d.QueuedAllocations)
	require.NotNil(t, d.Plan)
	require.Equal(t, "eval-1", d.Plan.EvalId)
	require.Equal(t, int32(50), d.Plan.Priority)
	require.Equal(t, uint64(100), d.Plan.SnapshotIndex)
	require.Same(t, j, d.Plan.Job)
	require.Empty(t, d.Plan.NodeUpdate)
	require.Equal(t, []string{"web.api[0]", "web.api[1]", "web.api[2]"}, names(d.Plan.NodeAllocation))

	ids := map[string]bool{}
	for _, a := range d.Plan.NodeAllocation {
		require.False(t, ids[a.Id], "allocation ids are unique")
		ids[a.Id] = true
		require.Regexp(t, `^alloc-\d+$`, a.Id, "ids come from Input.NewID")
		require.Equal(t, structs.DefaultNamespace, a.Namespace)
		require.Equal(t, "eval-1", a.EvalId)
		require.Equal(t, "web", a.JobId)
		require.Same(t, j, a.Job)
		require.Equal(t, "api", a.TaskGroup)
		require.Equal(t, "host-"+a.NodeId, a.NodeName)
		require.Equal(t, structs.AllocDesiredRun, a.DesiredStatus)
		require.Equal(t, structs.AllocClientPending, a.ClientStatus)
		require.Equal(t, testNow.UnixNano(), a.CreateTime)
		require.True(t, proto.Equal(&structs.Resources{CpuMhz: 100, MemoryMb: 100}, a.TaskResources["srv"]))
	}

	st.apply(d)
	again := st.schedule(t, j)
	require.Nil(t, again.Plan, "nothing changes once the count is running")
	require.False(t, again.Blocked())
	require.Equal(t, map[string]int32{"api": 0}, again.QueuedAllocations)
}

func TestBinpack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []*structs.Node
		other []*structs.Allocation
		count int32
		want  map[string]int
	}{
		{
			name:  "prefers the node already holding work",
			nodes: []*structs.Node{testNode("empty", 1000, 1000), testNode("busy", 1000, 1000)},
			other: []*structs.Allocation{otherAlloc("x", "busy", 500, 500)},
			count: 1,
			want:  map[string]int{"busy": 1},
		},
		{
			name:  "prefers the node already holding work whatever the listing order",
			nodes: []*structs.Node{testNode("busy", 1000, 1000), testNode("empty", 1000, 1000)},
			other: []*structs.Allocation{otherAlloc("x", "busy", 500, 500)},
			count: 1,
			want:  map[string]int{"busy": 1},
		},
		{
			name:  "prefers the node with less room left relative to its size",
			nodes: []*structs.Node{testNode("big", 4000, 4000), testNode("small", 1000, 1000)},
			count: 1,
			want:  map[string]int{"small": 1},
		},
		{
			name:  "fills one node before spilling onto the next",
			nodes: []*structs.Node{testNode("a", 1000, 1000), testNode("b", 1000, 1000)},
			count: 3,
			want:  map[string]int{"a": 2, "b": 1},
		},
		{
			name:  "ties break by node id, not listing order",
			nodes: []*structs.Node{testNode("c", 1000, 1000), testNode("b", 1000, 1000), testNode("a", 1000, 1000)},
			count: 1,
			want:  map[string]int{"a": 1},
		},
		{
			name:  "a full node is skipped",
			nodes: []*structs.Node{testNode("a", 1000, 1000), testNode("b", 1000, 1000)},
			other: []*structs.Allocation{otherAlloc("x", "a", 700, 700)},
			count: 1,
			want:  map[string]int{"b": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(tc.nodes...)
			st.allocs = tc.other
			j := testJob("web", structs.JobTypeService, tc.count, 400, 400)
			st.upsertJob(j)
			d := st.schedule(t, j)
			require.False(t, d.Blocked())
			require.Equal(t, tc.want, placedPerNode(d))
		})
	}
}

func TestExhaustedResourcesBlockWithMetrics(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cpu, mem  int64
		disk      int64
		dimension string
	}{
		{name: "memory", cpu: 100, mem: 600, dimension: "memory"},
		{name: "cpu", cpu: 600, mem: 100, dimension: "cpu"},
		{name: "cpu is reported before memory", cpu: 600, mem: 600, dimension: "cpu"},
		{name: "disk", cpu: 100, mem: 100, disk: 600, dimension: "disk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testNode("a", 1000, 1000)
			n.Resources.DiskMb = 1000
			st := newState(n)
			j := testJob("web", structs.JobTypeService, 3, tc.cpu, tc.mem)
			j.TaskGroups[0].Tasks[0].Resources.DiskMb = tc.disk
			st.upsertJob(j)

			d := st.schedule(t, j)
			require.True(t, d.Blocked())
			require.Equal(t, []string{"web.api[0]"}, names(placements(d)), "what fits is still placed")
			require.Equal(t, map[string]int32{"api": 2}, d.QueuedAllocations)
			m := d.FailedTGAllocs["api"]
			require.NotNil(t, m)
			require.Equal(t, map[string]int32{tc.dimension: 1}, m.DimensionExhausted, "each node is counted once per group")
			require.Equal(t, int32(1), m.NodesExhausted)
			require.Equal(t, int32(1), m.NodesEvaluated, "the one node was evaluated")
			require.Equal(t, int32(0), m.NodesFiltered)
			require.Equal(t, int32(1), m.CoalescedFailures, "two failures reported as one plus one coalesced")
		})
	}
}

func TestNothingFitsLeavesNoPlan(t *testing.T) {
	st := newState(testNode("a", 1000, 1000))
	j := testJob("web", structs.JobTypeService, 2, 2000, 100)
	st.upsertJob(j)
	d := st.schedule(t, j)
	require.Nil(t, d.Plan)
	require.True(t, d.Blocked())
	require.Equal(t, int32(2), d.QueuedAllocations["api"])
	require.Equal(t, map[string]int32{"cpu": 1}, d.FailedTGAllocs["api"].DimensionExhausted)
}

func TestFeasibilityFilters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dcs    []string
		modify func(n *structs.Node)
		task2  string // driver of a second task, if any
		reason string // "" when the node is feasible
	}{
		{name: "ready node", reason: ""},
		{name: "down", modify: func(n *structs.Node) { n.Status = structs.NodeStatusDown }, reason: "node not ready"},
		{name: "initializing", modify: func(n *structs.Node) { n.Status = structs.NodeStatusInit }, reason: "node not ready"},
		{name: "ineligible", modify: func(n *structs.Node) { n.SchedulingEligibility = structs.NodeIneligible }, reason: "node ineligible"},
		{name: "wrong datacenter", dcs: []string{"dc2"}, reason: "datacenter"},
		{name: "datacenter listed among others", dcs: []string{"dc2", "dc1"}, reason: ""},
		{name: "datacenter glob", dcs: []string{"dc*"}, reason: ""},
		{name: "datacenter glob not matching", dcs: []string{"eu-*"}, reason: "datacenter"},
		{name: "datacenter wildcard", dcs: []string{"*"}, reason: ""},
		{name: "driver missing", modify: func(n *structs.Node) { n.Drivers = nil }, reason: "missing driver mock"},
		{name: "driver not detected", modify: func(n *structs.Node) { n.Drivers["mock"].Detected = false }, reason: "missing driver mock"},
		{name: "driver unhealthy", modify: func(n *structs.Node) { n.Drivers["mock"].Healthy = false }, reason: "missing driver mock"},
		{name: "second task's driver missing", task2: "docker", reason: "missing driver docker"},
		{
			name:   "second task's driver present",
			task2:  "docker",
			modify: func(n *structs.Node) { n.Drivers["docker"] = &structs.DriverInfo{Detected: true, Healthy: true} },
			reason: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testNode("a", 1000, 1000)
			if tc.modify != nil {
				tc.modify(n)
			}
			st := newState(n)
			j := testJob("web", structs.JobTypeService, 1, 100, 100)
			if tc.dcs != nil {
				j.Datacenters = tc.dcs
			}
			if tc.task2 != "" {
				j.TaskGroups[0].Tasks = append(j.TaskGroups[0].Tasks, &structs.Task{
					Name: "sidecar", Driver: tc.task2, Resources: &structs.Resources{CpuMhz: 10, MemoryMb: 10},
				})
			}
			st.upsertJob(j)

			d := st.schedule(t, j)
			if tc.reason == "" {
				require.False(t, d.Blocked())
				require.Equal(t, map[string]int{"a": 1}, placedPerNode(d))
				return
			}
			require.True(t, d.Blocked())
			require.Nil(t, d.Plan)
			require.Equal(t, int32(1), d.QueuedAllocations["api"])
			m := d.FailedTGAllocs["api"]
			require.Equal(t, int32(1), m.NodesEvaluated)
			require.Equal(t, int32(1), m.NodesFiltered)
			require.Equal(t, int32(0), m.NodesExhausted)
			require.Equal(t, map[string]int32{tc.reason: 1}, m.ConstraintFiltered)
		})
	}
}

func TestFilteredNodesAreCountedPerReason(t *testing.T) {
	down := testNode("down", 1000, 1000)
	down.Status = structs.NodeStatusDown
	inel := testNode("inel", 1000, 1000)
	inel.SchedulingEligibility = structs.NodeIneligible
	far := testNode("far", 1000, 1000)
	far.Datacenter = "dc9"
	nodrv := testNode("nodrv", 1000, 1000)
	nodrv.Drivers = nil
	sick := testNode("sick", 1000, 1000)
	sick.Drivers["mock"].Healthy = false
	st := newState(down, inel, far, nodrv, sick, testNode("ok", 1000, 1000))
	j := testJob("web", structs.JobTypeService, 2, 100, 600)
	j.Datacenters = []string{"dc1"}
	st.upsertJob(j)

	d := st.schedule(t, j)
	require.Equal(t, map[string]int{"ok": 1}, placedPerNode(d), "only the good node is used")
	m := d.FailedTGAllocs["api"]
	require.Equal(t, map[string]int32{
		"node not ready": 1, "node ineligible": 1, "datacenter": 1, "missing driver mock": 2,
	}, m.ConstraintFiltered, "the metric spans both placements of the group, each node counted once")
	require.Equal(t, int32(5), m.NodesFiltered)
	require.Equal(t, int32(6), m.NodesEvaluated)
	require.Equal(t, map[string]int32{"dc1": 4}, m.NodesAvailable, "ready nodes of the job's datacenters")
	require.Equal(t, int32(5), m.NodesInPool)
	require.Equal(t, map[string]int32{"memory": 1}, m.DimensionExhausted)
}

func TestConstraints(t *testing.T) {
	type level int
	const (
		jobLevel level = iota
		groupLevel
		taskLevel
	)
	c := func(l, op, r string) *structs.Constraint {
		return &structs.Constraint{LTarget: l, Operand: op, RTarget: r}
	}
	for _, tc := range []struct {
		c     *structs.Constraint
		at    level
		holds bool
	}{
		{c("${attr.kernel.name}", "=", "linux"), groupLevel, true},
		{c("${attr.kernel.name}", "==", "linux"), groupLevel, true},
		{c("${attr.kernel.name}", "", "linux"), groupLevel, true},
		{c("${attr.kernel.name}", "=", "windows"), groupLevel, false},
		{c("${attr.kernel.name}", "=", "linux"), jobLevel, true},
		{c("${attr.kernel.name}", "=", "windows"), jobLevel, false},
		{c("${attr.kernel.name}", "=", "linux"), taskLevel, true},
		{c("${attr.kernel.name}", "=", "windows"), taskLevel, false},
		{c("${attr.kernel.name}", "!=", "linux"), groupLevel, false},
		{c("${attr.kernel.name}", "!=", "windows"), groupLevel, true},
		{c("${attr.gpu.model}", "!=", "a100"), groupLevel, true},
		{c("${attr.gpu.model}", "=", ""), groupLevel, false},
		{c("${attr.kernel.name}", "regexp", "^lin"), groupLevel, true},
		{c("${attr.cpu.arch}", "regexp", "^(amd64|arm64)$"), groupLevel, true},
		{c("${attr.kernel.name}", "regexp", "^win"), groupLevel, false},
		{c("${attr.gpu.model}", "regexp", ".*"), groupLevel, false},
		{c("${attr.kernel.name}", "is_set", ""), groupLevel, true},
		{c("${attr.gpu.model}", "is_set", ""), groupLevel, false},
		{c("${attr.gpu.model}", "is_not_set", ""), groupLevel, true},
		{c("${attr.kernel.name}", "is_not_set", ""), groupLevel, false},
		{c("${meta.rack}", "=", "r1"), groupLevel, true},
		{c("${meta.rack}", "=", "r2"), groupLevel, false},
		{c("${meta.zone}", "is_set", ""), groupLevel, false},
		{c("${node.class}", "=", "gpu"), groupLevel, true},
		{c("${node.class}", "=", "cpu"), groupLevel, false},
		{c("${node.datacenter}", "=", "dc1"), groupLevel, true},
		{c("${node.unique.id}", "=", "n1"), groupLevel, true},
		{c("${node.unique.name}", "=", "host-n1"), groupLevel, true},
		{c("${node.unique.name}", "=", "host-n2"), groupLevel, false},
		{c("${attr.kernel.name}", "=", "${meta.os}"), groupLevel, true},
		{c("${unknown.key}", "is_set", ""), groupLevel, false},
	} {
		t.Run(constraintString(tc.c), func(t *testing.T) {
			n := testNode("n1", 1000, 1000)
			n.Meta = map[string]string{"rack": "r1", "os": "linux"}
			n.NodeClass = "gpu"
			st := newState(n)
			j := testJob("web", structs.JobTypeService, 1, 100, 100)
			switch tc.at {
			case jobLevel:
				j.Constraints = []*structs.Constraint{tc.c}
			case groupLevel:
				j.TaskGroups[0].Constraints = []*structs.Constraint{tc.c}
			case taskLevel:
				j.TaskGroups[0].Tasks[0].Constraints = []*structs.Constraint{tc.c}
			}
			st.upsertJob(j)

			d := st.schedule(t, j)
			if tc.holds {
				require.False(t, d.Blocked())
				require.Len(t, placements(d), 1)
				return
			}
			require.True(t, d.Blocked())
			require.Nil(t, d.Plan)
			require.Equal(t, map[string]int32{constraintString(tc.c): 1}, d.FailedTGAllocs["api"].ConstraintFiltered,
				"the unmet constraint is named")
		})
	}
}

func TestNodeClassConstraintOnClasslessNode(t *testing.T) {
	st := newState(testNode("n1", 1000, 1000))
	j := testJob("web", structs.JobTypeService, 1, 100, 100)
	j.TaskGroups[0].Constraints = []*structs.Constraint{{LTarget: "${node.class}", Operand: "is_not_set"}}
	st.upsertJob(j)
	require.Len(t, placements(st.schedule(t, j)), 1, "an empty node class is not set")
}

func TestDistinctHosts(t *testing.T) {
	distinct := func(r string) []*structs.Constraint {
		return []*structs.Constraint{{Operand: structs.ConstraintDistinctHosts, RTarget: r}}
	}
	for _, tc := range []struct {
		name       string
		jobC, tgC  []*structs.Constraint
		wantPlaced map[string]int
		wantQueued int32
	}{
		{name: "job level", jobC: distinct("true"), wantPlaced: map[string]int{"a": 1, "b": 1}, wantQueued: 1},
		{name: "group level", tgC: distinct("true"), wantPlaced: map[string]int{"a": 1, "b": 1}, wantQueued: 1},
		{name: "empty value means true", tgC: distinct(""), wantPlaced: map[string]int{"a": 1, "b": 1}, wantQueued: 1},
		// Without the constraint, job anti-affinity still prefers another node.
		{name: "false turns it off", tgC: distinct("false"), wantPlaced: map[string]int{"a": 2, "b": 1}, wantQueued: 0},
		{name: "absent", wantPlaced: map[string]int{"a": 2, "b": 1}, wantQueued: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
			j := testJob("web", structs.JobTypeService, 3, 100, 100)
			j.Constraints = tc.jobC
			j.TaskGroups[0].Constraints = tc.tgC
			st.upsertJob(j)

			d := st.schedule(t, j)
			require.Equal(t, tc.wantPlaced, placedPerNode(d))
			require.Equal(t, tc.wantQueued, d.QueuedAllocations["api"])
			if tc.wantQueued > 0 {
				// The second placement finds a taken, the third b: each node once.
				require.Equal(t, int32(2), d.FailedTGAllocs["api"].ConstraintFiltered[structs.ConstraintDistinctHosts])
			}
		})
	}
}

func TestDistinctHostsCountsExistingAllocations(t *testing.T) {
	st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000), testNode("c", 1000, 1000))
	j := testJob("web", structs.JobTypeService, 1, 100, 100)
	j.TaskGroups[0].Constraints = []*structs.Constraint{{Operand: structs.ConstraintDistinctHosts}}
	st.upsertJob(j)
	st.apply(st.schedule(t, j))
	first := st.allocs[0].NodeId

	j.TaskGroups[0].Count = 3
	d := st.schedule(t, j)
	require.Equal(t, []string{"web.api[1]", "web.api[2]"}, names(placements(d)))
	for _, a := range placements(d) {
		require.NotEqual(t, first, a.NodeId)
	}
	require.Len(t, placedPerNode(d), 2)
}

func TestDistinctHostsAtJobLevelSeparatesGroups(t *testing.T) {
	for _, tc := range []struct {
		name     string
		jobLevel bool
		want     map[string]int
	}{
		{name: "job level keeps the groups apart", jobLevel: true, want: map[string]int{"a": 1, "b": 1}},
		{name: "group level lets the groups share a node", jobLevel: false, want: map[string]int{"a": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
			j := testJob("web", structs.JobTypeService, 1, 100, 100)
			j.TaskGroups = append(j.TaskGroups, proto.Clone(j.TaskGroups[0]).(*structs.TaskGroup))
			j.TaskGroups[1].Name = "worker"
			dh := []*structs.Constraint{{Operand: structs.ConstraintDistinctHosts}}
			if tc.jobLevel {
				j.Constraints = dh
			} else {
				j.TaskGroups[0].Constraints, j.TaskGroups[1].Constraints = dh, dh
			}
			st.upsertJob(j)

			d := st.schedule(t, j)
			require.False(t, d.Blocked())
			require.Equal(t, []string{"web.api[0]", "web.worker[0]"}, names(placements(d)))
			require.Equal(t, tc.want, placedPerNode(d))
		})
	}
}

func TestExistingAllocationsAreKept(t *testing.T) {
	for _, jobType := range []string{structs.JobTypeService, structs.JobTypeBatch, structs.JobTypeSystem, structs.JobTypeSysBatch} {
		t.Run(jobType, func(t *testing.T) {
			st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
			j := testJob("web", jobType, 2, 100, 100)
			st.upsertJob(j)
			first := st.schedule(t, j)
			require.Len(t, placements(first), 2)
			st.apply(first)

			d := st.schedule(t, j)
			require.Nil(t, d.Plan)
			require.False(t, d.Blocked())
		})
	}
}

func TestScaling(t *testing.T) {
	for _, tc := range []struct {
		name       string
		from, to   int32
		wantPlaced []string
		wantStops  []string
	}{
		{name: "down stops the highest indexes", from: 5, to: 2, wantStops: []string{"web.api[2]", "web.api[3]", "web.api[4]"}},
		{name: "down to zero", from: 2, to: 0, wantStops: []string{"web.api[0]", "web.api[1]"}},
		{name: "up adds the next indexes", from: 2, to: 4, wantPlaced: []string{"web.api[2]", "web.api[3]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(testNode("a", 4000, 4000))
			j := testJob("web", structs.JobTypeService, tc.from, 100, 100)
			st.upsertJob(j)
			st.apply(st.schedule(t, j))
			before := st.clone()

			j.TaskGroups[0].Count = tc.to
			d := st.schedule(t, j)
			require.Equal(t, tc.wantPlaced, namesOrNil(placements(d)))
			require.Equal(t, tc.wantStops, namesOrNil(stops(d)))
			for _, a := range stops(d) {
				require.Equal(t, structs.AllocDesiredStop, a.DesiredStatus)
				require.Equal(t, "alloc not needed due to job update", a.DesiredDescription)
			}
			requireStateUnchanged(t, before, st)

			st.apply(d)
			require.Len(t, st.liveAllocs(), int(tc.to))
			require.Nil(t, st.schedule(t, j).Plan, "the scaled job is stable")
		})
	}
}

func namesOrNil(allocs []*structs.Allocation) []string {
	if len(allocs) == 0 {
		return nil
	}
	return names(allocs)
}

func TestStoppedOrMissingJobStopsEveryLiveAllocation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		jobType string
		end     func(st *fakeState, j *structs.Job)
	}{
		{"service stopped", structs.JobTypeService, func(_ *fakeState, j *structs.Job) { j.Stop = true }},
		{"service purged", structs.JobTypeService, func(st *fakeState, j *structs.Job) { delete(st.jobs, "default/web") }},
		{"system stopped", structs.JobTypeSystem, func(_ *fakeState, j *structs.Job) { j.Stop = true }},
		{"system purged", structs.JobTypeSystem, func(st *fakeState, j *structs.Job) { delete(st.jobs, "default/web") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
			j := testJob("web", tc.jobType, 2, 100, 100)
			st.upsertJob(j)
			st.apply(st.schedule(t, j))
			require.Len(t, st.liveAllocs(), 2)
			// One allocation the servers already stopped: not stopped again.
			done := proto.Clone(st.allocs[0]).(*structs.Allocation)
			done.Id, done.DesiredStatus = "old", structs.AllocDesiredStop
			st.allocs = append(st.allocs, done)
			before := st.clone()

			tc.end(st, j)
			d := st.scheduleEval(t, tc.jobType, structs.DefaultNamespace, "web")
			require.Empty(t, placements(d))
			require.Len(t, stops(d), 2)
			for _, a := range stops(d) {
				require.NotEqual(t, "old", a.Id)
				require.Equal(t, structs.AllocDesiredStop, a.DesiredStatus)
				require.Equal(t, "alloc not needed as job is stopped", a.DesiredDescription)
			}
			require.False(t, d.Blocked())
			requireStateUnchanged(t, before, st)

			st.apply(d)
			require.Empty(t, st.liveAllocs())
			require.Nil(t, st.scheduleEval(t, tc.jobType, structs.DefaultNamespace, "web").Plan)
		})
	}
}

func TestLostAllocationIsReplacedUnderItsName(t *testing.T) {
	for _, tc := range []struct {
		name    string
		desired string
	}{
		// The FSM marks a down node's allocations lost and stopped.
		{name: "lost and stopped", desired: structs.AllocDesiredStop},
		{name: "lost, still wanted", desired: structs.AllocDesiredRun},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000), testNode("c", 1000, 1000))
			j := testJob("web", structs.JobTypeService, 2, 100, 600)
			st.upsertJob(j)
			st.apply(st.schedule(t, j))
			require.Len(t, placedPerNodeOf(st.allocs), 2, "memory spreads the two allocations")

			lost := st.setClientStatus(t, "web.api[1]", structs.AllocClientLost)
			lost.DesiredStatus = tc.desired
			st.node(lost.NodeId).Status = structs.NodeStatusDown

			d := st.schedule(t, j)
			require.False(t, d.Blocked())
			require.Empty(t, stops(d), "a lost allocation needs no stop")
			require.Len(t, placements(d), 1)
			repl := placements(d)[0]
			require.Equal(t, "web.api[1]", repl.Name)
			require.NotEqual(t, lost.Id, repl.Id)
			require.NotEqual(t, lost.NodeId, repl.NodeId)
		})
	}
}

func placedPerNodeOf(allocs []*structs.Allocation) map[string]int {
	out := map[string]int{}
	for _, a := range allocs {
		out[a.NodeId]++
	}
	return out
}

func TestJobUpdate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		jobType  string
		client   string // client status of web.api[0] before the update
		replaced bool
	}{
		{"running service allocation", structs.JobTypeService, structs.AllocClientRunning, true},
		{"pending service allocation", structs.JobTypeService, structs.AllocClientPending, true},
		{"failed service allocation", structs.JobTypeService, structs.AllocClientFailed, true},
		{"failed batch allocation", structs.JobTypeBatch, structs.AllocClientFailed, true},
		{"complete batch allocation", structs.JobTypeBatch, structs.AllocClientComplete, false},
		{"running system allocation", structs.JobTypeSystem, structs.AllocClientRunning, true},
		{"failed system allocation", structs.JobTypeSystem, structs.AllocClientFailed, true},
		{"complete sysbatch allocation", structs.JobTypeSysBatch, structs.AllocClientComplete, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(testNode("a", 1000, 1000))
			j := testJob("web", tc.jobType, 1, 100, 100)
			st.upsertJob(j)
			st.apply(st.schedule(t, j))
			old := st.setClientStatus(t, "web.api[0]", tc.client)

			updated := testJob("web", tc.jobType, 1, 200, 100)
			updated.JobModifyIndex = 20
			st.upsertJob(updated)
			d := st.schedule(t, updated)
			if !tc.replaced {
				require.Nil(t, d.Plan)
				return
			}
			require.Len(t, stops(d), 1)
			require.Equal(t, old.Id, stops(d)[0].Id)
			require.Equal(t, structs.AllocDesiredStop, stops(d)[0].DesiredStatus)
			require.Equal(t, "alloc is being updated due to job update", stops(d)[0].DesiredDescription)
			require.Len(t, placements(d), 1)
			repl := placements(d)[0]
			require.Equal(t, "web.api[0]", repl.Name)
			require.Same(t, updated, repl.Job)
			require.Equal(t, int64(200), repl.TaskResources["srv"].CpuMhz)

			st.apply(d)
			require.Nil(t, st.schedule(t, updated).Plan, "the new version is stable")
		})
	}
}

func TestUnchangedJobModifyIndexIsNotAnUpdate(t *testing.T) {
	st := newState(testNode("a", 1000, 1000))
	j := testJob("web", structs.JobTypeService, 2, 100, 100)
	st.upsertJob(j)
	st.apply(st.schedule(t, j))
	// Only a new job modify index makes allocations outdated.
	same := testJob("web", structs.JobTypeService, 2, 200, 100)
	same.JobModifyIndex = j.JobModifyIndex
	st.upsertJob(same)
	require.Nil(t, st.schedule(t, same).Plan)
}

func TestCompleteBatchAllocationIsNotRerun(t *testing.T) {
	for _, jobType := range []string{structs.JobTypeBatch, structs.JobTypeSysBatch} {
		t.Run(jobType, func(t *testing.T) {
			st := newState(testNode("a", 1000, 1000))
			j := testJob("report", jobType, 1, 100, 100)
			st.upsertJob(j)
			st.apply(st.schedule(t, j))
			st.setClientStatus(t, "report.api[0]", structs.AllocClientComplete)

			d := st.schedule(t, j)
			require.Nil(t, d.Plan)
			require.False(t, d.Blocked())
		})
	}
}

func TestRemovedGroupAndDuplicatesAreStopped(t *testing.T) {
	st := newState(testNode("a", 1000, 1000))
	j := testJob("web", structs.JobTypeService, 1, 100, 100)
	st.upsertJob(j)
	st.apply(st.schedule(t, j))
	dup := proto.Clone(st.allocs[0]).(*structs.Allocation)
	dup.Id = "zz-duplicate"
	gone := proto.Clone(st.allocs[0]).(*structs.Allocation)
	gone.Id, gone.TaskGroup, gone.Name = "zz-gone", "cache", "web.cache[0]"
	st.allocs = append(st.allocs, dup, gone)

	d := st.schedule(t, j)
	require.Empty(t, placements(d))
	why := map[string]string{}
	for _, a := range stops(d) {
		why[a.Id] = a.DesiredDescription
	}
	require.Equal(t, map[string]string{
		"zz-duplicate": "alloc is a duplicate",
		"zz-gone":      "alloc not needed as task group was removed",
	}, why)
}

func TestSystemJob(t *testing.T) {
	st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
	inel := testNode("inel", 1000, 1000)
	inel.SchedulingEligibility = structs.NodeIneligible
	nodrv := testNode("nodrv", 1000, 1000)
	nodrv.Drivers = nil
	st.nodes = append(st.nodes, inel, nodrv)
	j := testJob("agent", structs.JobTypeSystem, 1, 100, 100)
	st.upsertJob(j)

	d := st.schedule(t, j)
	require.False(t, d.Blocked(), "infeasible nodes are not failures for a system job")
	require.Equal(t, map[string]int{"a": 1, "b": 1}, placedPerNode(d))
	require.Equal(t, []string{"agent.api[0]", "agent.api[0]"}, names(placements(d)))
	require.Equal(t, map[string]int32{"api": 0}, d.QueuedAllocations)
	st.apply(d)

	t.Run("a new node gets one", func(t *testing.T) {
		st.nodes = append(st.nodes, testNode("c", 1000, 1000))
		d := st.schedule(t, j)
		require.Empty(t, stops(d))
		require.Equal(t, map[string]int{"c": 1}, placedPerNode(d))
		st.apply(d)
	})
	t.Run("an ineligible node keeps it but gets no new one", func(t *testing.T) {
		st.node("a").SchedulingEligibility = structs.NodeIneligible
		require.Nil(t, st.schedule(t, j).Plan)
	})
	t.Run("a node leaving the job's datacenters loses it", func(t *testing.T) {
		st.node("a").Datacenter = "dc9"
		j.Datacenters = []string{"dc1"}
		d := st.schedule(t, j)
		require.Empty(t, placements(d))
		require.Len(t, stops(d), 1)
		require.Equal(t, "a", stops(d)[0].NodeId)
		require.Equal(t, "alloc not needed as node is no longer feasible", stops(d)[0].DesiredDescription)
		st.apply(d)
		st.node("a").Datacenter = "dc1"
	})
	t.Run("a node no longer matching a constraint loses it", func(t *testing.T) {
		st.node("b").Attributes["kernel.name"] = "windows"
		j.Constraints = []*structs.Constraint{{LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "linux"}}
		d := st.schedule(t, j)
		require.Empty(t, placements(d))
		require.Len(t, stops(d), 1)
		require.Equal(t, "b", stops(d)[0].NodeId)
		st.apply(d)
	})
	t.Run("a down node's allocation is left to the node-down path", func(t *testing.T) {
		st.node("c").Status = structs.NodeStatusDown
		require.Nil(t, st.schedule(t, j).Plan)
	})
	t.Run("a removed node's allocation is stopped", func(t *testing.T) {
		st.removeNode("c")
		d := st.schedule(t, j)
		require.Len(t, stops(d), 1)
		require.Equal(t, "c", stops(d)[0].NodeId)
		require.Equal(t, "alloc not needed as node was removed", stops(d)[0].DesiredDescription)
		st.apply(d)
	})
	t.Run("the job is stable", func(t *testing.T) {
		require.Empty(t, st.liveAllocs())
		st.node("a").SchedulingEligibility = structs.NodeEligible
		d := st.schedule(t, j)
		require.Equal(t, map[string]int{"a": 1}, placedPerNode(d))
		st.apply(d)
		require.Nil(t, st.schedule(t, j).Plan)
	})
}

func TestSystemJobOnAFullNodeIsBlocked(t *testing.T) {
	st := newState(testNode("a", 1000, 1000), testNode("full", 1000, 1000))
	other := otherAlloc("x", "full", 100, 950)
	other.Job = &structs.Job{Id: "other", Priority: 50} // not lower: nothing to preempt
	st.allocs = []*structs.Allocation{other}
	j := testJob("agent", structs.JobTypeSystem, 1, 100, 100)
	st.upsertJob(j)

	d := st.schedule(t, j)
	require.Equal(t, map[string]int{"a": 1}, placedPerNode(d))
	require.True(t, d.Blocked())
	require.Equal(t, int32(1), d.QueuedAllocations["api"])
	require.Equal(t, map[string]int32{"memory": 1}, d.FailedTGAllocs["api"].DimensionExhausted)
}

func TestStopsFreeResourcesWithinThePlan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(j *structs.Job) *structs.Job
	}{
		{
			name: "new version replaces the old on the only node",
			change: func(j *structs.Job) *structs.Job {
				u := testJob("web", structs.JobTypeService, 1, 200, 900)
				u.JobModifyIndex = j.JobModifyIndex + 1
				return u
			},
		},
		{
			name: "a new group takes a removed group's room",
			change: func(j *structs.Job) *structs.Job {
				u := proto.Clone(j).(*structs.Job)
				u.TaskGroups[0].Name = "worker"
				return u
			},
		},
		{
			name: "scaling one group down makes room for another",
			change: func(j *structs.Job) *structs.Job {
				u := proto.Clone(j).(*structs.Job)
				u.TaskGroups[0].Count = 0
				extra := proto.Clone(j.TaskGroups[0]).(*structs.TaskGroup)
				extra.Name = "worker"
				u.TaskGroups = append(u.TaskGroups, extra)
				return u
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(testNode("a", 1000, 1000))
			j := testJob("web", structs.JobTypeService, 1, 100, 900)
			st.upsertJob(j)
			st.apply(st.schedule(t, j))

			u := tc.change(j)
			st.upsertJob(u)
			d := st.schedule(t, u)
			require.False(t, d.Blocked(), "the stop makes room in the same plan")
			require.Len(t, stops(d), 1)
			require.Len(t, placements(d), 1)
			require.Equal(t, "a", placements(d)[0].NodeId)
		})
	}
}

func TestScheduleDoesNotModifyTheState(t *testing.T) {
	st := newState(testNode("a", 1000, 1000), testNode("b", 1000, 1000))
	j := testJob("web", structs.JobTypeService, 3, 100, 100)
	st.upsertJob(j)
	st.apply(st.schedule(t, j))
	st.setClientStatus(t, "web.api[0]", structs.AllocClientLost)
	j.TaskGroups[0].Count = 2
	before := st.clone()

	d := st.schedule(t, j)
	require.NotNil(t, d.Plan)
	requireStateUnchanged(t, before, st)
}

func requireStateUnchanged(t *testing.T, before, after *fakeState) {
	t.Helper()
	require.Len(t, after.allocs, len(before.allocs))
	for i := range before.allocs {
		require.True(t, proto.Equal(before.allocs[i], after.allocs[i]), "allocation %s was modified", before.allocs[i].Id)
	}
	require.Len(t, after.nodes, len(before.nodes))
	for i := range before.nodes {
		require.True(t, proto.Equal(before.nodes[i], after.nodes[i]), "node %s was modified", before.nodes[i].Id)
	}
}

func TestAllocsFit(t *testing.T) {
	alloc := func(desired, client string, cpu, mem, disk int64) *structs.Allocation {
		return &structs.Allocation{
			DesiredStatus: desired, ClientStatus: client,
			TaskResources: map[string]*structs.Resources{"t": {CpuMhz: cpu, MemoryMb: mem, DiskMb: disk}},
		}
	}
	run := func(cpu, mem, disk int64) *structs.Allocation {
		return alloc(structs.AllocDesiredRun, structs.AllocClientRunning, cpu, mem, disk)
	}
	for _, tc := range []struct {
		name      string
		disk      int64
		allocs    []*structs.Allocation
		dimension string // "" when they fit
	}{
		{name: "nothing", dimension: ""},
		{name: "exactly full", allocs: []*structs.Allocation{run(600, 600, 0), run(400, 400, 0)}, dimension: ""},
		{name: "cpu", allocs: []*structs.Allocation{run(600, 100, 0), run(401, 100, 0)}, dimension: "cpu"},
		{name: "memory", allocs: []*structs.Allocation{run(100, 600, 0), run(100, 401, 0)}, dimension: "memory"},
		{name: "cpu before memory", allocs: []*structs.Allocation{run(1001, 1001, 0)}, dimension: "cpu"},
		{name: "disk", disk: 500, allocs: []*structs.Allocation{run(100, 100, 501)}, dimension: "disk"},
		{name: "disk unreported by the node is not limited", allocs: []*structs.Allocation{run(100, 100, 1<<20)}, dimension: ""},
		{name: "multi-task allocation sums its tasks", allocs: []*structs.Allocation{{
			DesiredStatus: structs.AllocDesiredRun, ClientStatus: structs.AllocClientRunning,
			TaskResources: map[string]*structs.Resources{"a": {CpuMhz: 600}, "b": {CpuMhz: 600}},
		}}, dimension: "cpu"},
		{name: "stopped allocations do not count", allocs: []*structs.Allocation{
			run(600, 600, 0), alloc(structs.AllocDesiredStop, structs.AllocClientRunning, 600, 600, 0),
		}, dimension: ""},
		{name: "evicted allocations do not count", allocs: []*structs.Allocation{
			run(600, 600, 0), alloc(structs.AllocDesiredEvict, structs.AllocClientRunning, 600, 600, 0),
		}, dimension: ""},
		{name: "finished allocations do not count", allocs: []*structs.Allocation{
			run(600, 600, 0),
			alloc(structs.AllocDesiredRun, structs.AllocClientComplete, 600, 600, 0),
			alloc(structs.AllocDesiredRun, structs.AllocClientFailed, 600, 600, 0),
			alloc(structs.AllocDesiredRun, structs.AllocClientLost, 600, 600, 0),
		}, dimension: ""},
		{name: "pending allocations count", allocs: []*structs.Allocation{
			run(600, 600, 0), alloc(structs.AllocDesiredRun, structs.AllocClientPending, 600, 600, 0),
		}, dimension: "cpu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testNode("a", 1000, 1000)
			n.Resources.DiskMb = tc.disk
			ok, dim := AllocsFit(n, tc.allocs)
			require.Equal(t, tc.dimension == "", ok)
			require.Equal(t, tc.dimension, dim)
		})
	}
}

func TestAllocsFitOnNodeWithoutResources(t *testing.T) {
	n := testNode("a", 0, 0)
	n.Resources = nil
	ok, _ := AllocsFit(n, nil)
	require.True(t, ok)
	ok, dim := AllocsFit(n, []*structs.Allocation{{DesiredStatus: structs.AllocDesiredRun,
		TaskResources: map[string]*structs.Resources{"t": {CpuMhz: 1}}}})
	require.False(t, ok)
	require.Equal(t, "cpu", dim)
}

func TestUsage(t *testing.T) {
	u := Usage([]*structs.Allocation{
		{DesiredStatus: structs.AllocDesiredRun, TaskResources: map[string]*structs.Resources{
			"a": {CpuMhz: 100, MemoryMb: 200, DiskMb: 300}, "b": {CpuMhz: 1, MemoryMb: 2, DiskMb: 3}, "nil": nil,
		}},
		{DesiredStatus: structs.AllocDesiredStop, TaskResources: map[string]*structs.Resources{"a": {CpuMhz: 1000}}},
	})
	require.True(t, proto.Equal(&structs.Resources{CpuMhz: 101, MemoryMb: 202, DiskMb: 303}, u), "got %v", u)
}

func TestAllocName(t *testing.T) {
	require.Equal(t, "web.api[0]", AllocName("web", "api", 0))
	require.Equal(t, "web.api[12]", AllocName("web", "api", 12))
}
