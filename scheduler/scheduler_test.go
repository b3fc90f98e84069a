package scheduler

import (
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/structs"
)

// fakeState is a map-backed State.
type fakeState struct {
	jobs   map[string]*structs.Job
	nodes  []*structs.Node
	allocs []*structs.Allocation
}

func (s *fakeState) Index() uint64                  { return 1 }
func (s *fakeState) Job(ns, id string) *structs.Job { return s.jobs[ns+"/"+id] }
func (s *fakeState) Nodes() []*structs.Node         { return s.nodes }
func (s *fakeState) AllocsByJob(ns, id string) []*structs.Allocation {
	var out []*structs.Allocation
	for _, a := range s.allocs {
		if a.Namespace == ns && a.JobId == id {
			out = append(out, a)
		}
	}
	return out
}
func (s *fakeState) AllocsByNode(id string) []*structs.Allocation {
	var out []*structs.Allocation
	for _, a := range s.allocs {
		if a.NodeId == id {
			out = append(out, a)
		}
	}
	return out
}

func node(id string, cpu, mem int64) *structs.Node {
	return &structs.Node{
		Id: id, Name: id, Datacenter: "dc1", Status: structs.NodeStatusReady,
		SchedulingEligibility: structs.NodeEligible,
		Resources:             &structs.Resources{CpuMhz: cpu, MemoryMb: mem},
		Attributes:            map[string]string{"kernel.name": "linux"},
		Drivers:               map[string]*structs.DriverInfo{"mock": {Detected: true, Healthy: true}},
	}
}

func job(id, typ string, count int32, cpu, mem int64) *structs.Job {
	j := &structs.Job{Id: id, Type: typ, JobModifyIndex: 10, TaskGroups: []*structs.TaskGroup{{
		Name: "g", Count: count,
		Tasks: []*structs.Task{{Name: "t", Driver: "mock", Resources: &structs.Resources{CpuMhz: cpu, MemoryMb: mem}}},
	}}}
	j.Canonicalize(50)
	return j
}

func newState(j *structs.Job, nodes ...*structs.Node) *fakeState {
	s := &fakeState{jobs: map[string]*structs.Job{}, nodes: nodes}
	if j != nil {
		s.jobs[j.Namespace+"/"+j.Id] = j
	}
	return s
}

func schedule(t *testing.T, st *fakeState, jobID, typ string) *Decision {
	t.Helper()
	s, err := Factory(typ)
	require.NoError(t, err)
	n := 0
	d, err := s.Schedule(st, Input{
		Eval: &structs.Evaluation{Id: "eval", Namespace: "default", JobId: jobID, Type: typ},
		Now:  time.Unix(0, 0), NewID: func() string { n++; return "alloc-" + strconv.Itoa(n) },
	})
	require.NoError(t, err)
	return d
}

// apply folds a decision's plan into the state, as the plan applier would.
func apply(st *fakeState, d *Decision) {
	if d.Plan == nil {
		return
	}
	stopped := map[string]*structs.Allocation{}
	for _, a := range d.Plan.NodeUpdate {
		stopped[a.Id] = a
	}
	for i, a := range st.allocs {
		if s := stopped[a.Id]; s != nil {
			st.allocs[i] = s
		}
	}
	for _, a := range d.Plan.NodeAllocation {
		a.ClientStatus = structs.AllocClientRunning
		st.allocs = append(st.allocs, a)
	}
}

func placedNames(d *Decision) []string {
	var out []string
	for _, a := range d.Plan.NodeAllocation {
		out = append(out, a.Name)
	}
	sort.Strings(out)
	return out
}

func TestServicePlacesCountAndNamesAllocations(t *testing.T) {
	st := newState(job("web", "service", 3, 100, 100), node("a", 1000, 1000), node("b", 1000, 1000))
	d := schedule(t, st, "web", "service")
	require.False(t, d.Blocked())
	require.Equal(t, []string{"web.g[0]", "web.g[1]", "web.g[2]"}, placedNames(d))
	require.Equal(t, int32(0), d.QueuedAllocations["g"])
	for _, a := range d.Plan.NodeAllocation {
		require.Equal(t, structs.AllocDesiredRun, a.DesiredStatus)
		require.Equal(t, "eval", a.EvalId)
		require.Equal(t, int64(100), a.TaskResources["t"].CpuMhz)
	}

	apply(st, d)
	require.Nil(t, schedule(t, st, "web", "service").Plan, "nothing to do once placed")
}

func TestBinpackPrefersTheFullerNode(t *testing.T) {
	st := newState(job("web", "service", 1, 100, 100), node("empty", 1000, 1000), node("busy", 1000, 1000))
	st.allocs = []*structs.Allocation{{Id: "x", Namespace: "default", JobId: "other", NodeId: "busy",
		DesiredStatus: structs.AllocDesiredRun, ClientStatus: structs.AllocClientRunning,
		TaskResources: map[string]*structs.Resources{"t": {CpuMhz: 500, MemoryMb: 500}}}}
	d := schedule(t, st, "web", "service")
	require.Equal(t, "busy", d.Plan.NodeAllocation[0].NodeId)
}

func TestExhaustedResourcesBlockWithMetrics(t *testing.T) {
	st := newState(job("web", "service", 3, 100, 600), node("a", 1000, 1000))
	d := schedule(t, st, "web", "service")
	require.True(t, d.Blocked())
	require.Len(t, d.Plan.NodeAllocation, 1, "what fits is still placed")
	require.Equal(t, int32(2), d.QueuedAllocations["g"])
	m := d.FailedTGAllocs["g"]
	require.Equal(t, int32(1), m.CoalescedFailures)
	require.Positive(t, m.DimensionExhausted["memory"])
}

func TestFeasibilityFilters(t *testing.T) {
	down := node("down", 1000, 1000)
	down.Status = structs.NodeStatusDown
	inel := node("ineligible", 1000, 1000)
	inel.SchedulingEligibility = structs.NodeIneligible
	otherDC := node("dc2", 1000, 1000)
	otherDC.Datacenter = "dc2"
	noDriver := node("nodriver", 1000, 1000)
	noDriver.Drivers = map[string]*structs.DriverInfo{}
	unhealthy := node("unhealthy", 1000, 1000)
	unhealthy.Drivers["mock"].Healthy = false
	j := job("web", "service", 1, 100, 100)
	j.Datacenters = []string{"dc1"}

	st := newState(j, down, inel, otherDC, noDriver, unhealthy)
	d := schedule(t, st, "web", "service")
	require.True(t, d.Blocked())
	m := d.FailedTGAllocs["g"]
	require.Equal(t, int32(5), m.NodesFiltered)
	require.Equal(t, int32(1), m.ConstraintFiltered["node not ready"])
	require.Equal(t, int32(1), m.ConstraintFiltered["node ineligible"])
	require.Equal(t, int32(1), m.ConstraintFiltered["datacenter"])
	require.Equal(t, int32(2), m.ConstraintFiltered["missing driver mock"])

	j.Datacenters = []string{"dc*"}
	d = schedule(t, st, "web", "service")
	require.Equal(t, "dc2", d.Plan.NodeAllocation[0].NodeId, "datacenters match as globs")
}

func TestConstraints(t *testing.T) {
	n := node("n", 1000, 1000)
	n.Meta = map[string]string{"rack": "r1"}
	n.NodeClass = "gpu"
	for _, tc := range []struct {
		c    *structs.Constraint
		fits bool
	}{
		{&structs.Constraint{LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "linux"}, true},
		{&structs.Constraint{LTarget: "${attr.kernel.name}", RTarget: "linux"}, true},
		{&structs.Constraint{LTarget: "${attr.kernel.name}", Operand: "!=", RTarget: "linux"}, false},
		{&structs.Constraint{LTarget: "${attr.kernel.name}", Operand: "regexp", RTarget: "^lin"}, true},
		{&structs.Constraint{LTarget: "${attr.kernel.name}", Operand: "regexp", RTarget: "^win"}, false},
		{&structs.Constraint{LTarget: "${attr.kernel.name}", Operand: "is_set"}, true},
		{&structs.Constraint{LTarget: "${attr.gpu.count}", Operand: "is_set"}, false},
		{&structs.Constraint{LTarget: "${attr.gpu.count}", Operand: "is_not_set"}, true},
		{&structs.Constraint{LTarget: "${meta.rack}", Operand: "=", RTarget: "r1"}, true},
		{&structs.Constraint{LTarget: "${node.class}", Operand: "=", RTarget: "gpu"}, true},
		{&structs.Constraint{LTarget: "${node.datacenter}", Operand: "=", RTarget: "dc2"}, false},
		{&structs.Constraint{LTarget: "${attr.missing}", Operand: "=", RTarget: ""}, false},
	} {
		j := job("web", "service", 1, 100, 100)
		j.TaskGroups[0].Constraints = []*structs.Constraint{tc.c}
		d := schedule(t, newState(j, n), "web", "service")
		require.Equal(t, tc.fits, !d.Blocked(), "%v", tc.c)
	}
}

func TestDistinctHostsSpreadsOnePerNode(t *testing.T) {
	j := job("web", "service", 3, 100, 100)
	j.Constraints = []*structs.Constraint{{Operand: "distinct_hosts", RTarget: "true"}}
	d := schedule(t, newState(j, node("a", 1000, 1000), node("b", 1000, 1000)), "web", "service")
	require.Len(t, d.Plan.NodeAllocation, 2)
	require.NotEqual(t, d.Plan.NodeAllocation[0].NodeId, d.Plan.NodeAllocation[1].NodeId)
	require.Equal(t, int32(1), d.QueuedAllocations["g"])
}

func TestScaleDownStopsHighestIndexes(t *testing.T) {
	j := job("web", "service", 3, 100, 100)
	st := newState(j, node("a", 1000, 1000))
	apply(st, schedule(t, st, "web", "service"))
	j.TaskGroups[0].Count = 1
	d := schedule(t, st, "web", "service")
	require.Empty(t, d.Plan.NodeAllocation)
	var stopped []string
	for _, a := range d.Plan.NodeUpdate {
		require.Equal(t, structs.AllocDesiredStop, a.DesiredStatus)
		stopped = append(stopped, a.Name)
	}
	sort.Strings(stopped)
	require.Equal(t, []string{"web.g[1]", "web.g[2]"}, stopped)
}

func TestStoppedOrMissingJobStopsEverything(t *testing.T) {
	j := job("web", "service", 2, 100, 100)
	st := newState(j, node("a", 1000, 1000))
	apply(st, schedule(t, st, "web", "service"))
	j.Stop = true
	require.Len(t, schedule(t, st, "web", "service").Plan.NodeUpdate, 2)
	delete(st.jobs, "default/web")
	require.Len(t, schedule(t, st, "web", "service").Plan.NodeUpdate, 2)
}

func TestLostAllocationIsReplacedUnderItsName(t *testing.T) {
	j := job("web", "service", 1, 100, 100)
	st := newState(j, node("a", 1000, 1000), node("b", 1000, 1000))
	apply(st, schedule(t, st, "web", "service"))
	lost := st.allocs[0]
	lost.ClientStatus = structs.AllocClientLost
	for _, n := range st.nodes {
		if n.Id == lost.NodeId {
			n.Status = structs.NodeStatusDown
		}
	}
	d := schedule(t, st, "web", "service")
	require.Equal(t, []string{"web.g[0]"}, placedNames(d))
	require.NotEqual(t, lost.NodeId, d.Plan.NodeAllocation[0].NodeId)
}

func TestJobUpdateReplacesDestructively(t *testing.T) {
	j := job("web", "service", 1, 100, 100)
	st := newState(j, node("a", 1000, 1000))
	apply(st, schedule(t, st, "web", "service"))
	for _, a := range st.allocs {
		a.Job = j
	}
	updated := job("web", "service", 1, 200, 100)
	updated.JobModifyIndex = 20
	st.jobs["default/web"] = updated
	d := schedule(t, st, "web", "service")
	require.Len(t, d.Plan.NodeUpdate, 1)
	require.Len(t, d.Plan.NodeAllocation, 1)
	require.Equal(t, int64(200), d.Plan.NodeAllocation[0].TaskResources["t"].CpuMhz)
}

func TestCompleteBatchAllocationIsNotRerun(t *testing.T) {
	j := job("report", "batch", 1, 100, 100)
	st := newState(j, node("a", 1000, 1000))
	apply(st, schedule(t, st, "report", "batch"))
	st.allocs[0].ClientStatus = structs.AllocClientComplete
	require.Nil(t, schedule(t, st, "report", "batch").Plan)
}

func TestSystemJobRunsOnEveryFeasibleNode(t *testing.T) {
	j := job("agent", "system", 1, 100, 100)
	st := newState(j, node("a", 1000, 1000), node("b", 1000, 1000))
	d := schedule(t, st, "agent", "system")
	require.Len(t, d.Plan.NodeAllocation, 2)
	apply(st, d)

	st.nodes = append(st.nodes, node("c", 1000, 1000))
	d = schedule(t, st, "agent", "system")
	require.Len(t, d.Plan.NodeAllocation, 1)
	require.Equal(t, "c", d.Plan.NodeAllocation[0].NodeId, "a joining node gets the system job")
	apply(st, d)

	st.nodes[0].SchedulingEligibility = structs.NodeIneligible
	d = schedule(t, st, "agent", "system")
	require.Len(t, d.Plan.NodeUpdate, 1)
	require.Equal(t, "a", d.Plan.NodeUpdate[0].NodeId, "an ineligible node loses it")
}

func TestStopsFreeRoomWithinThePlan(t *testing.T) {
	j := job("web", "service", 1, 100, 900)
	st := newState(j, node("a", 1000, 1000))
	apply(st, schedule(t, st, "web", "service"))
	for _, a := range st.allocs {
		a.Job = j
	}
	updated := job("web", "service", 1, 100, 900)
	updated.JobModifyIndex = 20
	st.jobs["default/web"] = updated
	d := schedule(t, st, "web", "service")
	require.False(t, d.Blocked(), "the old version's stop makes room for the new one on the only node")
	require.Len(t, d.Plan.NodeAllocation, 1)
}

func TestAllocsFitAndFactory(t *testing.T) {
	n := node("a", 1000, 1000)
	a := &structs.Allocation{DesiredStatus: structs.AllocDesiredRun, ClientStatus: structs.AllocClientRunning,
		TaskResources: map[string]*structs.Resources{"t": {CpuMhz: 600, MemoryMb: 100}}}
	ok, _ := AllocsFit(n, []*structs.Allocation{a})
	require.True(t, ok)
	ok, dim := AllocsFit(n, []*structs.Allocation{a, a})
	require.False(t, ok)
	require.Equal(t, "cpu", dim)
	stopped := &structs.Allocation{DesiredStatus: structs.AllocDesiredStop, ClientStatus: structs.AllocClientRunning,
		TaskResources: a.TaskResources}
	ok, _ = AllocsFit(n, []*structs.Allocation{a, stopped})
	require.True(t, ok, "stopped allocations do not count")
	_, err := Factory("cron")
	require.Error(t, err)
}
