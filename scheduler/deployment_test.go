package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// rollWorld runs the generic scheduler against the real state store, as
// the servers do: plans are applied with ApplyPlanResult (which keeps
// deployment counts), clients' reports are allocation updates.
type rollWorld struct {
	t     *testing.T
	st    *state.Store
	index uint64
	ids   int
	now   time.Time
}

func newRollWorld(t *testing.T, nodes int) *rollWorld {
	w := &rollWorld{t: t, st: state.NewStore(), index: 1, now: time.Unix(1_700_000_000, 0)}
	tx := w.st.Begin()
	for i := range nodes {
		tx.UpsertNode(&structs.Node{
			Id: fmt.Sprintf("node-%02d", i), Name: fmt.Sprintf("n%d", i), Datacenter: "dc1",
			Status: structs.NodeStatusReady, SchedulingEligibility: structs.NodeEligible,
			Resources: &structs.Resources{CpuMhz: 100_000, MemoryMb: 100_000},
			Drivers:   map[string]*structs.DriverInfo{"mock": {Detected: true, Healthy: true}},
		})
	}
	tx.Commit(w.index)
	return w
}

func (w *rollWorld) next() uint64 { w.index++; return w.index }

// rollJob is a service job of count allocations with an update block.
func rollJob(count int32, u *structs.UpdateStrategy) *structs.Job {
	j := &structs.Job{Id: "web", Update: u, TaskGroups: []*structs.TaskGroup{{
		Name: "api", Count: count,
		Tasks: []*structs.Task{{Name: "srv", Driver: "mock", Config: nil, Env: map[string]string{"V": "1"}}},
	}}}
	j.Canonicalize(structs.DefaultJobPriority)
	return j
}

// register stores job as the FSM does: a changed specification is a new
// version with a new job_modify_index.
func (w *rollWorld) register(j *structs.Job) *structs.Job {
	j = proto.Clone(j).(*structs.Job)
	idx := w.next()
	tx := w.st.Begin()
	old := tx.Job(j.Namespace, j.Id)
	switch {
	case old == nil:
		j.CreateIndex, j.Version, j.JobModifyIndex = idx, 0, idx
	case structs.SpecEqual(old, j):
		tx.Abort()
		return old
	default:
		j.CreateIndex, j.Version, j.JobModifyIndex = old.CreateIndex, old.Version+1, idx
	}
	j.ModifyIndex = idx
	tx.UpsertJobVersion(j, 6)
	tx.Commit(idx)
	return j
}

func (w *rollWorld) schedule() *Decision {
	w.t.Helper()
	snap := w.st.Snapshot()
	d, err := genericScheduler{}.Schedule(snap, Input{
		Eval: &structs.Evaluation{Id: fmt.Sprintf("eval-%d", w.index), Namespace: "default", JobId: "web",
			Type: structs.JobTypeService, Priority: 50},
		Now: w.now,
		NewID: func() string {
			w.ids++
			return fmt.Sprintf("id-%03d", w.ids)
		},
	})
	require.NoError(w.t, err)
	return d
}

// apply commits a plan; new allocations start running.
func (w *rollWorld) apply(d *Decision) {
	if d.Plan == nil {
		return
	}
	p := d.Plan
	idx := w.next()
	tx := w.st.Begin()
	tx.ApplyPlanResult(&structs.PlanResult{
		NodeAllocation: p.NodeAllocation, NodeUpdate: p.NodeUpdate,
		Deployment: p.Deployment, DeploymentUpdates: p.DeploymentUpdates,
	}, p.Job, idx, w.now.UnixNano())
	tx.Commit(idx)
	for _, a := range p.NodeAllocation {
		w.report(a.Id, structs.AllocClientRunning, nil)
	}
}

// step schedules and applies once, returning the decision.
func (w *rollWorld) step() *Decision {
	d := w.schedule()
	w.apply(d)
	return d
}

// report records what a client says of an allocation: its status and,
// when healthy is set, its health.
func (w *rollWorld) report(id, status string, healthy *bool) {
	idx := w.next()
	tx := w.st.Begin()
	cur := tx.Alloc(id)
	upd := state.CloneAlloc(cur)
	upd.ClientStatus = status
	if healthy != nil {
		ds := proto.CloneOf(cur.DeploymentStatus)
		if ds == nil {
			ds = &structs.AllocDeploymentStatus{}
		}
		ds.Healthy, ds.Timestamp = proto.Bool(*healthy), w.now.UnixNano()
		upd.DeploymentStatus = ds
	}
	upd.ModifyIndex = idx
	tx.UpsertAlloc(upd)
	tx.TrackDeploymentAlloc(idx, w.now.UnixNano(), upd, cur)
	tx.Commit(idx)
}

// healAll reports every live allocation of the current deployment
// without health healthy.
func (w *rollWorld) healAll() int {
	n := 0
	for _, a := range w.live() {
		if a.DeploymentId != "" && !a.DeploymentStatus.HasHealth() {
			w.report(a.Id, structs.AllocClientRunning, proto.Bool(true))
			n++
		}
	}
	return n
}

func (w *rollWorld) live() []*structs.Allocation {
	var out []*structs.Allocation
	for _, a := range w.st.Snapshot().AllocsByJob("default", "web") {
		if a.DesiredStatus == structs.AllocDesiredRun && !a.ClientTerminal() {
			out = append(out, a)
		}
	}
	return out
}

func (w *rollWorld) job() *structs.Job { return w.st.Snapshot().Job("default", "web") }

func (w *rollWorld) deployment() *structs.Deployment {
	return w.st.Snapshot().LatestDeployment("default", "web")
}

// healthyCount counts live allocations serving: those of an older version
// (healthy before the update) and those of the current deployment found healthy.
func (w *rollWorld) healthyCount() int {
	job, n := w.job(), 0
	for _, a := range w.live() {
		if a.Job.Version != job.Version || a.DeploymentStatus.IsHealthy() {
			n++
		}
	}
	return n
}

func (w *rollWorld) setDeployment(f func(d *structs.Deployment)) {
	idx := w.next()
	tx := w.st.Begin()
	d := state.CloneDeployment(tx.LatestDeployment("default", "web"))
	f(d)
	d.ModifyIndex = idx
	tx.UpsertDeployment(d)
	tx.Commit(idx)
}

func TestFirstRegistrationIsADeployment(t *testing.T) {
	w := newRollWorld(t, 3)
	w.register(rollJob(5, &structs.UpdateStrategy{MaxParallel: proto.Int32(2)}))
	d := w.step()
	require.Len(t, placements(d), 5, "the first placements are not limited by max_parallel")
	dep := d.Plan.Deployment
	require.NotNil(t, dep)
	require.Equal(t, int32(5), dep.TaskGroups["api"].DesiredTotal)
	for _, a := range placements(d) {
		require.Equal(t, dep.Id, a.DeploymentId)
	}
	require.Equal(t, int32(5), w.deployment().TaskGroups["api"].PlacedAllocs)

	require.Nil(t, w.step().Plan, "nothing to do while the allocations are not healthy")
	require.Equal(t, 5, w.healAll())
	d = w.step()
	require.Len(t, d.Plan.DeploymentUpdates, 1)
	require.Equal(t, structs.DeploymentStatusSuccessful, w.deployment().Status)
	require.True(t, w.job().Stable, "a successful deployment makes the version stable")
	require.Nil(t, w.step().Plan)
}

func TestJobWithoutUpdateBlockHasNoDeployment(t *testing.T) {
	w := newRollWorld(t, 2)
	w.register(rollJob(3, nil))
	d := w.step()
	require.Len(t, placements(d), 3)
	require.Nil(t, d.Plan.Deployment)
	j := rollJob(3, nil)
	j.TaskGroups[0].Tasks[0].Env["V"] = "2"
	w.register(j)
	d = w.step()
	require.Len(t, placements(d), 3, "without an update block every allocation is replaced at once")
	require.Nil(t, w.deployment())
}

func TestRollingUpdateKeepsMaxParallelInFlight(t *testing.T) {
	w := newRollWorld(t, 4)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(2)}
	w.register(rollJob(10, u))
	w.step()
	w.healAll()
	w.step()
	require.Equal(t, structs.DeploymentStatusSuccessful, w.deployment().Status)

	v2 := rollJob(10, u)
	v2.TaskGroups[0].Tasks[0].Env["V"] = "2"
	job := w.register(v2)
	require.Equal(t, uint64(1), job.Version)
	passes := 0
	for ; passes < 20; passes++ {
		d := w.step()
		require.GreaterOrEqual(t, w.healthyCount(), 8, "never fewer than count - max_parallel serving")
		if passes == 0 {
			require.NotNil(t, d.Plan.Deployment, "the new version gets a deployment")
			require.Equal(t, int32(10), d.Plan.Deployment.TaskGroups["api"].DesiredTotal)
		}
		inFlight := 0
		for _, a := range w.live() {
			if a.Job.Version == 1 && !a.DeploymentStatus.HasHealth() {
				inFlight++
			}
		}
		require.LessOrEqual(t, inFlight, 2)
		if w.deployment().Status == structs.DeploymentStatusSuccessful {
			break
		}
		// A second pass before health changes changes nothing.
		require.Nil(t, w.schedule().Plan)
		w.healAll()
	}
	require.Equal(t, 5, passes, "ten allocations two at a time, and the pass that sees them healthy")
	for _, a := range w.live() {
		require.Equal(t, uint64(1), a.Job.Version)
	}
	require.True(t, w.job().Stable)
}

func TestUnhealthyAllocationStopsTheRollout(t *testing.T) {
	w := newRollWorld(t, 2)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(1)}
	w.register(rollJob(3, u))
	w.step()
	w.healAll()
	w.step()
	v2 := rollJob(3, u)
	v2.TaskGroups[0].Tasks[0].Env["V"] = "2"
	w.register(v2)
	d := w.step()
	require.Len(t, placements(d), 1)
	w.report(placements(d)[0].Id, structs.AllocClientRunning, proto.Bool(false))
	require.Nil(t, w.step().Plan, "an unhealthy allocation of the deployment stops the rollout")

	w.setDeployment(func(d *structs.Deployment) { d.Status = structs.DeploymentStatusFailed })
	require.Nil(t, w.step().Plan, "a failed deployment replaces nothing more")

	// A node's loss is still made good, outside the failed deployment.
	lost := w.live()[0]
	w.report(lost.Id, structs.AllocClientLost, nil)
	d = w.step()
	require.Len(t, placements(d), 1)
	require.Empty(t, placements(d)[0].DeploymentId)
}

func TestPausedDeploymentWaits(t *testing.T) {
	w := newRollWorld(t, 2)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(1)}
	w.register(rollJob(3, u))
	w.step()
	w.healAll()
	w.step()
	v2 := rollJob(3, u)
	v2.TaskGroups[0].Tasks[0].Env["V"] = "2"
	w.register(v2)
	w.step()
	w.setDeployment(func(d *structs.Deployment) { d.Status = structs.DeploymentStatusPaused })
	w.healAll()
	require.Nil(t, w.step().Plan)
	w.setDeployment(func(d *structs.Deployment) { d.Status = structs.DeploymentStatusRunning })
	require.Len(t, placements(w.step()), 1, "resumed: the next one")
}

func TestCanariesWaitForPromotion(t *testing.T) {
	w := newRollWorld(t, 3)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(2), Canary: proto.Int32(2)}
	w.register(rollJob(4, u))
	w.step()
	w.healAll()
	w.step()
	v2 := rollJob(4, u)
	v2.TaskGroups[0].Tasks[0].Env["V"] = "2"
	w.register(v2)

	d := w.step()
	require.Len(t, placements(d), 2, "two canaries")
	require.Empty(t, stops(d), "beside the old allocations")
	dep := d.Plan.Deployment
	require.Equal(t, int32(2), dep.TaskGroups["api"].DesiredCanaries)
	require.Equal(t, structs.DeploymentDescRunningNeedsPromotion, dep.StatusDescription)
	for _, a := range placements(d) {
		require.True(t, a.DeploymentStatus.IsCanary())
	}
	require.ElementsMatch(t, []string{"web.api[0]", "web.api[1]"}, names(placements(d)))
	require.Len(t, w.live(), 6, "old and canaries side by side")
	require.Len(t, w.deployment().TaskGroups["api"].PlacedCanaries, 2)

	w.healAll()
	require.Nil(t, w.step().Plan, "healthy canaries wait for promotion")
	require.Len(t, w.live(), 6)

	w.setDeployment(func(d *structs.Deployment) { d.TaskGroups["api"].Promoted = true })
	d = w.step()
	var replaced, updated int
	for _, s := range stops(d) {
		switch s.DesiredDescription {
		case reasonReplacedByCanary:
			replaced++
		case reasonUpdating:
			updated++
		}
	}
	require.Equal(t, 2, replaced, "the old allocations the canaries stand for go")
	require.Equal(t, 2, updated, "and the rollout goes on, max_parallel at a time")
	w.healAll()
	w.step()
	require.Equal(t, structs.DeploymentStatusSuccessful, w.deployment().Status)
	require.Len(t, w.live(), 4)
	for _, a := range w.live() {
		require.Equal(t, uint64(1), a.Job.Version)
	}
}

func TestNewVersionCancelsTheDeploymentAndItsCanaries(t *testing.T) {
	w := newRollWorld(t, 3)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(1), Canary: proto.Int32(1)}
	w.register(rollJob(2, u))
	w.step()
	w.healAll()
	w.step()
	v2 := rollJob(2, u)
	v2.TaskGroups[0].Tasks[0].Env["V"] = "2"
	w.register(v2)
	canary := placements(w.step())[0]
	first := w.deployment()

	v3 := rollJob(2, u)
	v3.TaskGroups[0].Tasks[0].Env["V"] = "3"
	w.register(v3)
	d := w.schedule()
	require.Equal(t, []*structs.DeploymentStatusUpdate{{
		DeploymentId: first.Id, Status: structs.DeploymentStatusCancelled, StatusDescription: structs.DeploymentDescNewerJob,
	}}, d.Plan.DeploymentUpdates)
	require.Contains(t, names(stops(d)), canary.Name)
	var stoppedCanary bool
	for _, s := range stops(d) {
		stoppedCanary = stoppedCanary || s.Id == canary.Id
	}
	require.True(t, stoppedCanary, "an unpromoted canary of a cancelled deployment is stopped")
	require.NotNil(t, d.Plan.Deployment)
}

func TestStoppedJobCancelsItsDeployment(t *testing.T) {
	w := newRollWorld(t, 2)
	j := rollJob(2, &structs.UpdateStrategy{MaxParallel: proto.Int32(1)})
	w.register(j)
	w.step()
	stopped := proto.Clone(j).(*structs.Job)
	stopped.Stop = true
	w.register(stopped)
	d := w.step()
	require.Len(t, stops(d), 2)
	require.Equal(t, structs.DeploymentStatusCancelled, w.deployment().Status)
	require.Equal(t, structs.DeploymentDescStoppedJob, w.deployment().StatusDescription)
}

func TestInPlaceUpdateJoinsTheDeployment(t *testing.T) {
	w := newRollWorld(t, 2)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(1)}
	w.register(rollJob(2, u))
	w.step()
	w.healAll()
	w.step()
	v2 := rollJob(2, u)
	v2.TaskGroups[0].Meta = map[string]string{"owner": "ops"}
	w.register(v2)
	d := w.step()
	require.Empty(t, stops(d), "nothing replaced")
	require.Len(t, placements(d), 2, "both updated in place")
	dep := w.deployment()
	require.NotNil(t, dep)
	require.Equal(t, structs.DeploymentStatusRunning, dep.Status)
	for _, a := range w.live() {
		require.Equal(t, dep.Id, a.DeploymentId)
		require.False(t, a.DeploymentStatus.HasHealth(), "their health is decided again")
	}
	w.healAll()
	w.step()
	require.Equal(t, structs.DeploymentStatusSuccessful, w.deployment().Status)
}

func TestFailedAllocationOfTheDeploymentWaitsForTheWatcher(t *testing.T) {
	w := newRollWorld(t, 2)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(1), ProgressDeadline: durationpb.New(time.Hour), HealthyDeadline: durationpb.New(time.Minute)}
	w.register(rollJob(2, u))
	d := w.step()
	failed := placements(d)[0]
	w.report(failed.Id, structs.AllocClientFailed, proto.Bool(false))
	require.Nil(t, w.step().Plan, "not rescheduled until the watcher allows it")

	idx := w.next()
	tx := w.st.Begin()
	a := state.CloneAlloc(tx.Alloc(failed.Id))
	a.DesiredTransition = &structs.DesiredTransition{Reschedule: true}
	tx.UpsertAlloc(a)
	tx.Commit(idx)
	w.now = w.now.Add(time.Hour)
	d = w.step()
	require.Len(t, placements(d), 1)
	require.Equal(t, failed.Id, placements(d)[0].PreviousAllocation)
}
