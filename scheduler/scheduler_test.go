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
