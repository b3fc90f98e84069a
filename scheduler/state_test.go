package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// fakeState is a map-backed State. Nodes are listed in insertion order (the
// scheduler must not depend on any order); allocations by job and by node
// are filtered from one slice.
type fakeState struct {
	index  uint64
	jobs   map[string]*structs.Job
	nodes  []*structs.Node
	allocs []*structs.Allocation
	// ids counts the ids handed out, so ids stay unique across passes.
	ids int
}

var _ State = (*fakeState)(nil)

func newState(nodes ...*structs.Node) *fakeState {
	return &fakeState{index: 100, jobs: map[string]*structs.Job{}, nodes: nodes}
}

func (s *fakeState) Index() uint64 { return s.index }

func (s *fakeState) Job(namespace, id string) *structs.Job {
	return s.jobs[namespace+"/"+id]
}

func (s *fakeState) Nodes() []*structs.Node { return s.nodes }

func (s *fakeState) AllocsByJob(namespace, id string) []*structs.Allocation {
	var out []*structs.Allocation
	for _, a := range s.allocs {
		if a.Namespace == namespace && a.JobId == id {
			out = append(out, a)
		}
	}
	return out
}

func (s *fakeState) AllocsByNode(nodeID string) []*structs.Allocation {
	var out []*structs.Allocation
	for _, a := range s.allocs {
		if a.NodeId == nodeID {
			out = append(out, a)
		}
	}
	return out
}

func (s *fakeState) Node(id string) *structs.Node { return s.node(id) }

// NodeUsage makes fakeState a UsageState, as the state store is: the sum
// of the node's live allocations.
func (s *fakeState) NodeUsage(nodeID string) (cpu, mem, disk int64) {
	u := Usage(s.AllocsByNode(nodeID))
	return u.CpuMhz, u.MemoryMb, u.DiskMb
}

// scanOnly hides a state's per-node usage, so a pass sums the nodes'
// allocations itself, as it does with a host's State that keeps none.
type scanOnly struct{ State }

func (s *fakeState) upsertJob(j *structs.Job) { s.jobs[j.Namespace+"/"+j.Id] = j }

func (s *fakeState) node(id string) *structs.Node {
	for _, n := range s.nodes {
		if n.Id == id {
			return n
		}
	}
	return nil
}

func (s *fakeState) removeNode(id string) {
	for i, n := range s.nodes {
		if n.Id == id {
			s.nodes = append(s.nodes[:i:i], s.nodes[i+1:]...)
			return
		}
	}
}

// clone deep-copies the state's objects, to detect a scheduler writing to them.
func (s *fakeState) clone() *fakeState {
	c := &fakeState{index: s.index, jobs: map[string]*structs.Job{}, ids: s.ids}
	for k, j := range s.jobs {
		c.jobs[k] = proto.Clone(j).(*structs.Job)
	}
	for _, n := range s.nodes {
		c.nodes = append(c.nodes, proto.Clone(n).(*structs.Node))
	}
	for _, a := range s.allocs {
		c.allocs = append(c.allocs, proto.Clone(a).(*structs.Allocation))
	}
	return c
}

// schedule runs the scheduler for the job's type on an evaluation of the job.
func (s *fakeState) schedule(t *testing.T, j *structs.Job) *Decision {
	t.Helper()
	return s.scheduleEval(t, j.Type, j.Namespace, j.Id)
}

// scheduleWith runs the job's scheduler under a scheduler configuration.
func (s *fakeState) scheduleWith(t *testing.T, j *structs.Job, cfg *structs.SchedulerConfiguration) *Decision {
	t.Helper()
	return s.scheduleEvalWith(t, j.Type, j.Namespace, j.Id, cfg)
}

func (s *fakeState) scheduleEval(t *testing.T, jobType, namespace, jobID string) *Decision {
	t.Helper()
	return s.scheduleEvalWith(t, jobType, namespace, jobID, nil)
}

func (s *fakeState) scheduleEvalWith(t *testing.T, jobType, namespace, jobID string, cfg *structs.SchedulerConfiguration) *Decision {
	t.Helper()
	sched, err := Builtin(jobType)
	require.NoError(t, err)
	d, err := sched.Schedule(s, Input{
		Eval: &structs.Evaluation{
			Id: "eval-1", Namespace: namespace, JobId: jobID, Type: jobType, Priority: 50,
			Status: structs.EvalStatusPending, TriggeredBy: structs.EvalTriggerJobRegister,
		},
		Now: testNow,
		NewID: func() string {
			s.ids++
			return fmt.Sprintf("alloc-%03d", s.ids)
		},
		Config: cfg,
	})
	require.NoError(t, err)
	require.NotNil(t, d)
	return d
}

// commit applies a plan as state.Txn.ApplyPlanResult does, at time now:
// stops, follow-up annotations and reconnections of existing allocations
// (a reconnection clears disconnected_at and next_allocation), evictions,
// in-place updates (keeping what the client reported), and new
// allocations, reported client (pending if empty) and linked from what
// they replace.
func (s *fakeState) commit(p *structs.Plan, client string, now int64) {
	if p == nil {
		return
	}
	for _, u := range p.NodeUpdate {
		s.update(u.Id, now, func(a *structs.Allocation) {
			if u.DesiredStatus != "" {
				a.DesiredStatus, a.DesiredDescription = u.DesiredStatus, u.DesiredDescription
			}
			if u.FollowupEvalId != "" {
				a.FollowupEvalId = u.FollowupEvalId
			}
			if u.ReconnectedAt != 0 {
				a.ReconnectedAt, a.DisconnectedAt, a.NextAllocation = u.ReconnectedAt, 0, ""
			}
		})
	}
	for _, e := range p.NodePreemptions {
		s.update(e.Id, now, func(a *structs.Allocation) {
			a.DesiredStatus, a.DesiredDescription = structs.AllocDesiredEvict, e.DesiredDescription
			a.PreemptedByAllocation = e.PreemptedByAllocation
		})
	}
	for _, n := range p.NodeAllocation {
		n = shallowCopy(n)
		if i := slices.IndexFunc(s.allocs, func(a *structs.Allocation) bool { return a.Id == n.Id }); i >= 0 {
			cur := s.allocs[i]
			n.CreateTime, n.ClientStatus, n.TaskStates = cur.CreateTime, cur.ClientStatus, cur.TaskStates
			s.allocs[i] = n
			continue
		}
		n.ClientStatus = cmp.Or(client, structs.AllocClientPending)
		s.allocs = append(s.allocs, n)
		s.update(n.PreviousAllocation, now, func(a *structs.Allocation) { a.NextAllocation = n.Id })
	}
}

// update replaces the allocation id, if any, with a copy changed by f at
// time now; the copy shares what the original points to, which is never
// modified.
func (s *fakeState) update(id string, now int64, f func(a *structs.Allocation)) {
	if i := slices.IndexFunc(s.allocs, func(a *structs.Allocation) bool { return a.Id == id }); i >= 0 {
		a := shallowCopy(s.allocs[i])
		f(a)
		a.ModifyTime = now
		s.allocs[i] = a
	}
}

var testNow = time.Unix(1_700_000_000, 0)

// testNode is a ready, eligible linux node in dc1 with a healthy mock driver.
func testNode(id string, cpu, memMB int64) *structs.Node {
	return &structs.Node{
		Id: id, Name: "host-" + id, Datacenter: "dc1",
		Status: structs.NodeStatusReady, SchedulingEligibility: structs.NodeEligible,
		Resources:  &structs.Resources{CpuMhz: cpu, MemoryMb: memMB},
		Attributes: map[string]string{"kernel.name": "linux", "cpu.arch": "amd64"},
		Drivers:    map[string]*structs.DriverInfo{"mock": {Detected: true, Healthy: true}},
	}
}

// testJob is a canonicalized job with one group "api" of count tasks "srv".
func testJob(id, jobType string, count int32, cpu, memMB int64) *structs.Job {
	j := &structs.Job{
		Id: id, Type: jobType, JobModifyIndex: 10,
		TaskGroups: []*structs.TaskGroup{{
			Name: "api", Count: count,
			Tasks: []*structs.Task{{Name: "srv", Driver: "mock", Resources: &structs.Resources{CpuMhz: cpu, MemoryMb: memMB}}},
		}},
	}
	j.Canonicalize(structs.DefaultJobPriority)
	return j
}

func names(allocs []*structs.Allocation) []string {
	out := make([]string, 0, len(allocs))
	for _, a := range allocs {
		out = append(out, a.Name)
	}
	sort.Strings(out)
	return out
}

// placedPerNode counts a plan's placements by node.
func placedPerNode(d *Decision) map[string]int {
	out := map[string]int{}
	if d.Plan != nil {
		for _, a := range d.Plan.NodeAllocation {
			out[a.NodeId]++
		}
	}
	return out
}

func placements(d *Decision) []*structs.Allocation {
	if d.Plan == nil {
		return nil
	}
	return d.Plan.NodeAllocation
}

func (s *fakeState) allocByID(id string) *structs.Allocation {
	for _, a := range s.allocs {
		if a.Id == id {
			return a
		}
	}
	return nil
}

// requireStateUnchanged fails unless after holds objects equal to before's.
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

// stops lists a decision's stops and evictions.
func stops(d *Decision) []*structs.Allocation {
	if d.Plan == nil {
		return nil
	}
	return d.Plan.NodeUpdate
}
