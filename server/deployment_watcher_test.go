package server

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// fsmProposer commits entries by applying them to an FSM at once, with
// the fake clock's time, as a one-server raft would.
type fsmProposer struct {
	mu    sync.Mutex
	f     *fsm
	index uint64
	clock func() time.Time
}

func (p *fsmProposer) Propose(_ context.Context, cmd *structs.LogCommand) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.index++
	cmd.Time = p.clock().UnixNano()
	// What a raft entry does: the command as it was encoded.
	cmd = proto.CloneOf(cmd)
	err := p.f.Apply(p.index, cmd)
	return p.index, err
}

// watchWorld is a state store driven through an FSM, a watcher over it,
// and a fake clock.
type watchWorld struct {
	t      *testing.T
	st     *state.Store
	clock  *clock.Fake
	raft   *fsmProposer
	w      *deploymentWatcher
	server *Server
}

func newWatchWorld(t *testing.T) *watchWorld {
	st := state.NewStore()
	clock := clock.NewFake(time.Unix(1_700_000_000, 0))
	p := &fsmProposer{f: &fsm{state: st}, clock: clock.Now}
	s := &Server{cfg: Config{Clock: clock}, state: st, logger: slog.New(slog.DiscardHandler)}
	w := &deploymentWatcher{state: st, raft: p, clock: clock, logger: s.logger, fail: s.failCommand,
		watched: map[string]*watchedDeployment{}}
	return &watchWorld{t: t, st: st, clock: clock, raft: p, w: w, server: s}
}

func (ww *watchWorld) apply(cmd *structs.LogCommand) {
	ww.t.Helper()
	_, err := ww.raft.Propose(context.Background(), cmd)
	require.NoError(ww.t, err)
}

// register stores a job version through the FSM.
func (ww *watchWorld) register(j *structs.Job) *structs.Job {
	j = proto.Clone(j).(*structs.Job)
	j.Canonicalize(50)
	ww.apply(&structs.LogCommand{Command: &structs.LogCommand_JobUpsert{JobUpsert: &structs.JobUpsert{Job: j, TrackedVersions: 6}}})
	return ww.st.Snapshot().Job(j.Namespace, j.Id)
}

// deploy creates a deployment of the job's current version with count
// allocations placed (each with the given canary flag), through a plan.
func (ww *watchWorld) deploy(u *structs.UpdateStrategy, count int, canaries int32) (*structs.Deployment, []string) {
	job := ww.st.Snapshot().Job("default", "web")
	d := &structs.Deployment{
		Id: "dep-" + time.Duration(job.Version).String(), Namespace: "default", JobId: "web", JobVersion: job.Version,
		JobCreateIndex: job.CreateIndex, JobSpecModifyIndex: job.JobModifyIndex, Status: structs.DeploymentStatusRunning,
		TaskGroups: map[string]*structs.DeploymentState{"api": {
			AutoRevert: u.GetAutoRevert(), AutoPromote: u.GetAutoPromote(), ProgressDeadline: u.ProgressDeadline,
			DesiredTotal: int32(count), DesiredCanaries: canaries,
		}},
	}
	res := &structs.PlanResult{Deployment: d}
	var ids []string
	for i := range count {
		a := &structs.Allocation{
			Id: d.Id + "-a" + string(rune('0'+i)), Namespace: "default", JobId: "web", TaskGroup: "api",
			Name: "web.api[" + string(rune('0'+i)) + "]", NodeId: "n1", DesiredStatus: structs.AllocDesiredRun,
			DeploymentId: d.Id,
		}
		if int32(i) < canaries {
			a.DeploymentStatus = &structs.AllocDeploymentStatus{Canary: true}
		}
		res.NodeAllocation = append(res.NodeAllocation, a)
		ids = append(ids, a.Id)
	}
	ww.apply(&structs.LogCommand{Command: &structs.LogCommand_PlanApply{PlanApply: &structs.PlanApply{Result: res, Job: job}}})
	return ww.st.Snapshot().Deployment(d.Id), ids
}

// health reports allocations healthy or not, as their client would.
func (ww *watchWorld) health(healthy bool, ids ...string) {
	var allocs []*structs.Allocation
	snap := ww.st.Snapshot()
	for _, id := range ids {
		a := snap.Alloc(id)
		allocs = append(allocs, &structs.Allocation{Id: id, ClientStatus: structs.AllocClientRunning, DeploymentId: a.DeploymentId,
			DeploymentStatus: &structs.AllocDeploymentStatus{Healthy: proto.Bool(healthy), Timestamp: ww.clock.Now().UnixNano()}})
	}
	ww.apply(&structs.LogCommand{Command: &structs.LogCommand_AllocClientUpdate{AllocClientUpdate: &structs.AllocClientUpdate{Allocations: allocs}}})
}

func (ww *watchWorld) pass() time.Time {
	return ww.w.pass(context.Background(), ww.st.Snapshot(), false)
}

func (ww *watchWorld) deployment(id string) *structs.Deployment {
	return ww.st.Snapshot().Deployment(id)
}

// evalsOf counts the evaluations the watcher created for the job.
func (ww *watchWorld) evals() int {
	n := 0
	for _, e := range ww.st.Snapshot().EvalsByJob("default", "web") {
		if e.TriggeredBy == structs.EvalTriggerDeploymentWatcher || e.TriggeredBy == structs.EvalTriggerJobRevert {
			n++
		}
	}
	return n
}

func watchJob(env string, u *structs.UpdateStrategy) *structs.Job {
	return &structs.Job{Id: "web", Update: u, TaskGroups: []*structs.TaskGroup{{Name: "api", Count: 2,
		Tasks: []*structs.Task{{Name: "t", Driver: "mock", Env: map[string]string{"V": env}}}}}}
}

func TestWatcherEvaluatesOncePerProgress(t *testing.T) {
	ww := newWatchWorld(t)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(1)}
	ww.register(watchJob("1", u))
	d, ids := ww.deploy(u, 2, 0)
	ww.pass()
	require.Equal(t, 0, ww.evals(), "nothing healthy yet: nothing to do")

	ww.health(true, ids[0])
	ww.pass()
	require.Equal(t, 1, ww.evals(), "an allocation became healthy: the scheduler goes on")
	ww.health(true, ids[1])
	ww.pass()
	require.Equal(t, 1, ww.evals(), "not another while the first is pending")

	e := ww.st.Snapshot().EvalsByJob("default", "web")[0]
	done := proto.CloneOf(e)
	done.Status = structs.EvalStatusComplete
	ww.apply(&structs.LogCommand{Command: &structs.LogCommand_EvalUpsert{EvalUpsert: &structs.EvalUpsert{Evals: []*structs.Evaluation{done}}}})
	ww.pass()
	require.Equal(t, 2, ww.evals(), "once it ran, the progress it missed gets one")
	require.Equal(t, d.Id, ww.st.Snapshot().EvalsByJob("default", "web")[1].DeploymentId)
}

func TestWatcherFailsOnUnhealthyAndRevertsToStable(t *testing.T) {
	ww := newWatchWorld(t)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(1), AutoRevert: proto.Bool(true), ProgressDeadline: durationpb.New(0)}
	ww.register(watchJob("1", u))
	ww.apply(&structs.LogCommand{Command: &structs.LogCommand_JobStability{JobStability: &structs.JobStability{
		Namespace: "default", JobId: "web", Version: 0, Stable: true}}})
	v1 := ww.register(watchJob("2", u))
	require.Equal(t, uint64(1), v1.Version)
	d, ids := ww.deploy(u, 2, 0)

	ww.health(false, ids[0])
	ww.pass()
	got := ww.deployment(d.Id)
	require.Equal(t, structs.DeploymentStatusFailed, got.Status)
	require.Equal(t, structs.DeploymentDescFailedAllocations+" - rolling back to job version 0", got.StatusDescription)
	job := ww.st.Snapshot().Job("default", "web")
	require.Equal(t, uint64(2), job.Version, "the stable version is registered again, as a newer version")
	require.Equal(t, "1", job.TaskGroups[0].Tasks[0].Env["V"])
	require.False(t, job.Stable)
	require.Equal(t, 1, ww.evals())
}

func TestWatcherWithoutStableVersionOnlyFails(t *testing.T) {
	ww := newWatchWorld(t)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(1), AutoRevert: proto.Bool(true), ProgressDeadline: durationpb.New(0)}
	ww.register(watchJob("1", u))
	d, ids := ww.deploy(u, 2, 0)
	ww.health(false, ids[1])
	ww.pass()
	require.Equal(t, structs.DeploymentDescFailedAllocations+structs.DeploymentDescNoRollbackTargetSuffix, ww.deployment(d.Id).StatusDescription)
	require.Equal(t, uint64(0), ww.st.Snapshot().Job("default", "web").Version)
}

func TestWatcherLetsUnhealthyAllocationsBeReplacedWithinTheProgressDeadline(t *testing.T) {
	ww := newWatchWorld(t)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(1), ProgressDeadline: durationpb.New(time.Hour)}
	ww.register(watchJob("1", u))
	d, ids := ww.deploy(u, 2, 0)
	ww.health(false, ids[0])
	ww.pass()
	require.Equal(t, structs.DeploymentStatusRunning, ww.deployment(d.Id).Status, "the service's reschedule policy allows a replacement")
	a := ww.st.Snapshot().Alloc(ids[0])
	require.True(t, a.DesiredTransition.GetReschedule(), "marked to be replaced")
	require.Equal(t, 1, ww.evals())
}

func TestWatcherProgressDeadlineWithAFakeClock(t *testing.T) {
	ww := newWatchWorld(t)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(1), ProgressDeadline: durationpb.New(10 * time.Minute)}
	ww.register(watchJob("1", u))
	d, ids := ww.deploy(u, 2, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ww.w.run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "the progress deadline armed", func() bool { return ww.clock.Waiters() == 1 })
	ww.clock.Advance(5 * time.Minute)
	ww.health(true, ids[0]) // progress: the deadline moves to 5m + 10m
	waitFor(t, "the deadline moved on", func() bool {
		return ww.deployment(d.Id).TaskGroups["api"].RequireProgressBy == ww.clock.Now().Add(10*time.Minute).UnixNano() && ww.clock.Waiters() == 1
	})
	ww.clock.Advance(9 * time.Minute)
	require.Equal(t, structs.DeploymentStatusRunning, ww.deployment(d.Id).Status, "14 minutes in, 9 since the last progress")
	ww.clock.Advance(time.Minute)
	waitFor(t, "the deployment failed", func() bool { return ww.deployment(d.Id).Status == structs.DeploymentStatusFailed })
	require.Equal(t, structs.DeploymentDescProgressDeadline, ww.deployment(d.Id).StatusDescription)
}

func TestWatcherAutoPromotesHealthyCanaries(t *testing.T) {
	ww := newWatchWorld(t)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(1), Canary: proto.Int32(2), AutoPromote: proto.Bool(true)}
	ww.register(watchJob("1", u))
	d, ids := ww.deploy(u, 2, 2)
	ww.health(true, ids[0])
	ww.pass()
	require.False(t, ww.deployment(d.Id).TaskGroups["api"].Promoted, "one canary of two is healthy")
	ww.health(true, ids[1])
	ww.pass()
	got := ww.deployment(d.Id)
	require.True(t, got.TaskGroups["api"].Promoted)
	require.Equal(t, structs.DeploymentDescRunning, got.StatusDescription)
}

func TestWatcherResumesAfterALeaderChange(t *testing.T) {
	ww := newWatchWorld(t)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(1)}
	ww.register(watchJob("1", u))
	d, _ := ww.deploy(u, 2, 0)
	ww.w.pass(context.Background(), ww.st.Snapshot(), true)
	require.Equal(t, 1, ww.evals(), "a new leader's watcher evaluates every active deployment once")
	ww.pass()
	require.Equal(t, 1, ww.evals())
	require.Equal(t, structs.DeploymentStatusRunning, ww.deployment(d.Id).Status)
}

func TestWatcherLeavesPausedDeploymentsAlone(t *testing.T) {
	ww := newWatchWorld(t)
	u := &structs.UpdateStrategy{MaxParallel: proto.Int32(1), ProgressDeadline: durationpb.New(time.Minute)}
	ww.register(watchJob("1", u))
	d, ids := ww.deploy(u, 2, 0)
	ww.apply(&structs.LogCommand{Command: &structs.LogCommand_DeploymentStatus{DeploymentStatus: &structs.DeploymentStatusCommand{
		Update: &structs.DeploymentStatusUpdate{DeploymentId: d.Id, Status: structs.DeploymentStatusPaused}}}})
	ww.clock.Advance(time.Hour)
	ww.health(false, ids[0])
	require.True(t, ww.pass().IsZero(), "no deadline runs while paused")
	require.Equal(t, structs.DeploymentStatusPaused, ww.deployment(d.Id).Status)
}

// waitFor waits for cond, giving up after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
