package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/server/raft"
	"github.com/droverhq/drover/store/inmem"
	"github.com/droverhq/drover/structs"
)

func schedTestServer(t *testing.T, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		Name: "s1", Region: "global", Datacenter: "dc1", Store: inmem.New(), BindAddr: "127.0.0.1:0",
		NumSchedulers: 2, EnabledSchedulers: []string{"service", "batch", "system", "sysbatch", "_core"},
		Heartbeat: heartbeat.DefaultConfig(), Raft: raft.Config{SnapshotThreshold: 1 << 30, SnapshotInterval: time.Hour, TrailingLogs: 10240},
		JobDefaultPriority: 50, JobMaxPriority: 100, Logger: testLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.WaitForLeader(ctx))
	return s
}

// TestNodeStormCoalesces registers 5,000 nodes, 64 at a time, while 10
// system jobs exist: each node event would ask for an evaluation of every
// system job, 50,000 in all. Pending evaluations are relied on instead
// (or folded), so only a handful are created, the broker never holds more
// than one outstanding and one pending per job, and every node still ends
// up running every job.
func TestNodeStormCoalesces(t *testing.T) {
	const nodes, jobs = 5000, 10
	s := schedTestServer(t, nil)
	ctx := context.Background()
	for i := 0; i < jobs; i++ {
		j := mockJob(fmt.Sprintf("sys-%d", i), 1)
		j.Type = structs.JobTypeSystem
		j.TaskGroups[0].Tasks[0].Resources = &structs.Resources{CpuMhz: 10, MemoryMb: 10}
		_, err := s.RegisterJob(ctx, j)
		require.NoError(t, err)
	}
	var worst atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			st := s.broker.Stats()
			worst.Store(max(worst.Load(), int64(st.Ready+st.Waiting+st.Unacked)))
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := 0; i < nodes; i++ {
		g.Go(func() error {
			_, err := s.RegisterNode(gctx, mockNode(fmt.Sprintf("node-%05d", i)))
			return err
		})
	}
	require.NoError(t, g.Wait())
	waitState(t, s, "every system job on every node", func() bool {
		snap := s.state.Snapshot()
		for i := 0; i < jobs; i++ {
			running := 0
			for _, a := range snap.AllocsByJob("default", fmt.Sprintf("sys-%d", i)) {
				if a.DesiredStatus == structs.AllocDesiredRun {
					running++
				}
			}
			if running != nodes {
				return false
			}
		}
		return true
	})
	close(stop)
	sampler.Wait()

	evals := s.state.Snapshot().Evals()
	byStatus := map[string]int{}
	for _, e := range evals {
		byStatus[e.Status]++
	}
	t.Logf("%d node events x %d jobs: %d evaluations created %v, at most %d in the broker", nodes, jobs, len(evals), byStatus, worst.Load())
	// Concurrent registrations may each create an evaluation before the
	// first reaches the broker; the broker folds them, so what is queued
	// and what runs stays per job, whatever the timing.
	require.Less(t, len(evals), nodes*jobs/10, "not one evaluation per node and job")
	require.LessOrEqual(t, worst.Load(), int64(2*jobs), "at most one outstanding and one pending per job")
	require.Less(t, byStatus[structs.EvalStatusComplete], 10*jobs, "the burst coalesces into a few scheduling passes per job")
}

// racingScheduler wraps the service scheduler: on its first pass it lets
// another plan take one of the nodes it picked, before handing its own in.
type racingScheduler struct {
	s      *Server
	passes atomic.Int32
}

func (r *racingScheduler) Schedule(st scheduler.State, in scheduler.Input) (*scheduler.Decision, error) {
	sched, _ := scheduler.Builtin(structs.JobTypeService)
	d, err := sched.Schedule(st, in)
	if err != nil || r.passes.Add(1) > 1 || d.Plan == nil {
		return d, err
	}
	victim := d.Plan.NodeAllocation[0].NodeId
	rival := &structs.Plan{EvalId: "rival", Priority: 50, NodeAllocation: []*structs.Allocation{{
		Id: "rival-alloc", Namespace: "default", JobId: "rival", Name: "rival.g[0]", TaskGroup: "g", NodeId: victim,
		DesiredStatus: structs.AllocDesiredRun, ClientStatus: structs.AllocClientPending,
		TaskResources: map[string]*structs.Resources{"t": {CpuMhz: 950, MemoryMb: 950}},
	}}}
	res, err := r.s.applier.submit(context.Background(), rival)
	if err != nil || len(res.RefusedNodes) > 0 {
		return nil, fmt.Errorf("rival plan: %v %v", err, res)
	}
	return d, nil
}

func TestPlanRaceIsPartlyRefusedAndRetried(t *testing.T) {
	s := schedTestServer(t, func(c *Config) { c.NumSchedulers = 0 })
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c", "d"} {
		_, err := s.RegisterNode(ctx, mockNode(id))
		require.NoError(t, err)
	}
	resp, err := s.RegisterJob(ctx, mockJob("web", 4))
	require.NoError(t, err)
	eval, token, err := s.broker.Dequeue(ctx, map[string]bool{"service": true})
	require.NoError(t, err)
	require.Equal(t, resp.EvalId, eval.Id)

	rs := &racingScheduler{s: s}
	w := &worker{
		backend: localBackend{s}, state: s.state,
		schedulers: func(string) (scheduler.Scheduler, error) { return rs, nil },
		now:        time.Now, logger: s.logger,
	}
	require.NoError(t, w.process(ctx, eval, token))
	require.NoError(t, s.broker.Ack(eval.Id, token))
	require.Equal(t, int32(2), rs.passes.Load(), "the refused part was scheduled again on a fresh snapshot")

	snap := s.state.Snapshot()
	live := 0
	for _, a := range snap.AllocsByJob("default", "web") {
		if a.DesiredStatus == structs.AllocDesiredRun {
			live++
		}
	}
	require.Equal(t, 4, live, "every placement made it in the end")
	for _, n := range snap.Nodes() {
		ok, dim := scheduler.AllocsFit(n, snap.AllocsByNode(n.Id))
		require.True(t, ok, "node %s over-committed on %s", n.Id, dim)
	}
	e := snap.Eval(eval.Id)
	require.Equal(t, structs.EvalStatusComplete, e.Status)
	var last uint64
	for _, a := range snap.AllocsByJob("default", "web") {
		last = max(last, a.CreateIndex)
	}
	require.Equal(t, last, e.ModifyIndex, "the outcome is written with the plan that completed it, in one raft entry")
}

func TestPauseEvalBrokerFollowsTheConfiguration(t *testing.T) {
	s := schedTestServer(t, nil)
	ctx := context.Background()
	paused := s.broker.Paused
	require.False(t, paused())
	_, _, err := s.SetSchedulerConfiguration(ctx, &structs.SchedulerConfiguration{PauseEvalBroker: true}, false, 0)
	require.NoError(t, err)
	require.True(t, paused(), "applied through raft, the leader's broker pauses")
	c, err := s.SchedulerConfiguration(ctx)
	require.NoError(t, err)
	require.Equal(t, "binpack", c.SchedulerAlgorithm, "an empty algorithm means binpack")
	_, _, err = s.SetSchedulerConfiguration(ctx, &structs.SchedulerConfiguration{}, false, 0)
	require.NoError(t, err)
	require.False(t, paused())
}

func TestPlanRejectionTrackerMarksNodeIneligible(t *testing.T) {
	s := schedTestServer(t, func(c *Config) {
		c.NumSchedulers = 0
		c.Scheduling.PlanRejection = PlanRejectionConfig{Enabled: true, NodeThreshold: 3, NodeWindow: time.Minute}
	})
	ctx := context.Background()
	_, err := s.RegisterNode(ctx, mockNode("tiny"))
	require.NoError(t, err)
	plan := func(i int) *structs.Plan {
		return &structs.Plan{EvalId: "e", NodeAllocation: []*structs.Allocation{{
			Id: fmt.Sprintf("x%d", i), Namespace: "default", JobId: "j", NodeId: "tiny", DesiredStatus: structs.AllocDesiredRun,
			TaskResources: map[string]*structs.Resources{"t": {CpuMhz: 5000}},
		}}}
	}
	for i := 0; i < 3; i++ {
		require.Equal(t, structs.NodeEligible, s.node("tiny").SchedulingEligibility)
		res, err := s.applier.submit(ctx, plan(i))
		require.NoError(t, err)
		require.Equal(t, []string{"tiny"}, res.RefusedNodes)
	}
	require.Equal(t, structs.NodeIneligible, s.node("tiny").SchedulingEligibility, "three refusals within the window")
}

func TestJobVersionsAreKept(t *testing.T) {
	s := schedTestServer(t, func(c *Config) { c.NumSchedulers = 0; c.Scheduling.JobTrackedVersions = 3 })
	ctx := context.Background()
	var lastIndex uint64
	for i := 1; i <= 5; i++ {
		resp, err := s.RegisterJob(ctx, mockJob("web", int32(i)))
		require.NoError(t, err)
		lastIndex = resp.JobModifyIndex
	}
	again, err := s.RegisterJob(ctx, mockJob("web", 5))
	require.NoError(t, err)
	job, err := s.Job(ctx, "", "web")
	require.NoError(t, err)
	require.Equal(t, uint64(4), job.Version, "re-registering the same job is not a new version")
	require.NotEqual(t, again.Meta.Index, job.JobModifyIndex)
	require.Equal(t, lastIndex, job.JobModifyIndex, "and keeps its allocations current")

	versions, err := s.JobVersions(ctx, "", "web")
	require.NoError(t, err)
	require.Len(t, versions, 3)
	for i, v := range versions {
		require.Equal(t, uint64(4-i), v.Version, "newest first")
		require.Equal(t, int32(5-i), v.TaskGroups[0].Count)
	}
	_, err = s.JobVersions(ctx, "", "nope")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestCustomJobTypeNeedsItsScheduler(t *testing.T) {
	s := schedTestServer(t, nil)
	j := mockJob("x", 1)
	j.Type = "by-tier"
	_, err := s.RegisterJob(context.Background(), j)
	require.ErrorIs(t, err, structs.ErrValidation, "an unknown type is refused")
}

type panickyScheduler struct{}

func (panickyScheduler) Schedule(scheduler.State, scheduler.Input) (*scheduler.Decision, error) {
	panic("bug in a host's scheduler")
}

func TestCustomSchedulerBugsFailTheEvaluationNotTheServer(t *testing.T) {
	s := schedTestServer(t, func(c *Config) {
		c.EnabledSchedulers = append(c.EnabledSchedulers, "buggy", "silent")
		c.Scheduling.Schedulers = map[string]scheduler.Factory{
			"buggy":  func() scheduler.Scheduler { return panickyScheduler{} },
			"silent": func() scheduler.Scheduler { return nilScheduler{} },
		}
	})
	ctx := context.Background()
	for _, typ := range []string{"buggy", "silent"} {
		j := mockJob(typ, 1)
		j.Type = typ
		resp, err := s.RegisterJob(ctx, j)
		require.NoError(t, err)
		waitState(t, s, typ+" evaluation finished", func() bool {
			e := s.state.Snapshot().Eval(resp.EvalId)
			return e != nil && e.TerminalStatus()
		})
		e := s.state.Snapshot().Eval(resp.EvalId)
		if typ == "buggy" {
			require.Equal(t, structs.EvalStatusFailed, e.Status)
			require.Contains(t, e.StatusDescription, "panicked")
		} else {
			require.Equal(t, structs.EvalStatusComplete, e.Status, "a nil decision changes nothing")
		}
	}
}

type nilScheduler struct{}

func (nilScheduler) Schedule(scheduler.State, scheduler.Input) (*scheduler.Decision, error) {
	return nil, nil
}

func TestSchedulerConfigAndJobVersionsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{
		Name: "s1", DataDir: dir, BindAddr: "127.0.0.1:0", NumSchedulers: 0,
		Heartbeat: heartbeat.DefaultConfig(), Raft: raft.Config{SnapshotThreshold: 4, SnapshotInterval: time.Millisecond, TrailingLogs: 1},
		JobDefaultPriority: 50, JobMaxPriority: 100, Logger: testLogger(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.WaitForLeader(ctx))
	_, _, err = s.SetSchedulerConfiguration(ctx, &structs.SchedulerConfiguration{SchedulerAlgorithm: "spread"}, false, 0)
	require.NoError(t, err)
	for i := 1; i <= 8; i++ {
		_, err := s.RegisterJob(ctx, mockJob("web", int32(i)))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		snap, err := s.store.Snapshot()
		require.NoError(t, err)
		return snap.GetMetadata().GetIndex() > 0
	}, 10*time.Second, 10*time.Millisecond, "a snapshot is taken")
	require.NoError(t, s.Shutdown(ctx))

	s2, err := New(cfg)
	require.NoError(t, err)
	defer s2.Shutdown(ctx)
	require.NoError(t, s2.WaitForLeader(ctx))
	c, err := s2.SchedulerConfiguration(ctx)
	require.NoError(t, err)
	require.Equal(t, "spread", c.SchedulerAlgorithm)
	versions, err := s2.JobVersions(ctx, "", "web")
	require.NoError(t, err)
	require.Len(t, versions, 6, "job_tracked_versions' default")
	require.Equal(t, uint64(7), versions[0].Version)
}

// greedyRival wraps the service scheduler: on each pass it lets another
// plan take the nodes of all but keep of the pass's placements (all of
// them when keep is 0) before handing its own in.
type greedyRival struct {
	s      *Server
	keep   int
	passes atomic.Int32
}

func (r *greedyRival) Schedule(st scheduler.State, in scheduler.Input) (*scheduler.Decision, error) {
	sched, _ := scheduler.Builtin(structs.JobTypeService)
	d, err := sched.Schedule(st, in)
	pass := r.passes.Add(1)
	if err != nil || d.Plan == nil || len(d.Plan.NodeAllocation) <= r.keep {
		return d, err
	}
	rival := &structs.Plan{EvalId: "rival", Priority: 50}
	for i, a := range d.Plan.NodeAllocation[r.keep:] {
		rival.NodeAllocation = append(rival.NodeAllocation, &structs.Allocation{
			Id: fmt.Sprintf("rival-%d-%d", pass, i), Namespace: "default", JobId: "rival", Name: "rival.g[0]", TaskGroup: "g",
			NodeId: a.NodeId, DesiredStatus: structs.AllocDesiredRun, ClientStatus: structs.AllocClientPending,
			TaskResources: map[string]*structs.Resources{"t": {CpuMhz: 950, MemoryMb: 950}},
		})
	}
	res, err := r.s.applier.submit(context.Background(), rival)
	if err != nil || len(res.RefusedNodes) > 0 {
		return nil, fmt.Errorf("rival plan: %v %v", err, res)
	}
	return d, nil
}

func planRaceServer(t *testing.T, nodes int, count int32) (*Server, *structs.Evaluation, string) {
	s := schedTestServer(t, func(c *Config) { c.NumSchedulers = 0 })
	ctx := context.Background()
	for i := range nodes {
		_, err := s.RegisterNode(ctx, mockNode(fmt.Sprintf("n%02d", i)))
		require.NoError(t, err)
	}
	resp, err := s.RegisterJob(ctx, mockJob("web", count))
	require.NoError(t, err)
	eval, token, err := s.broker.Dequeue(ctx, map[string]bool{"service": true})
	require.NoError(t, err)
	require.Equal(t, resp.EvalId, eval.Id)
	return s, eval, token
}

// TestPlanRacesThatMakeProgressAreRetriedPastTheLimit: each pass loses
// all but one of its nodes to other plans, more passes in a row than
// maxPlanAttempts, yet every pass places something: the evaluation goes
// on until everything is placed.
func TestPlanRacesThatMakeProgressAreRetriedPastTheLimit(t *testing.T) {
	const count = maxPlanAttempts + 2
	s, eval, token := planRaceServer(t, count*(count+1)/2+2, count)
	rs := &greedyRival{s: s, keep: 1}
	w := &worker{backend: localBackend{s}, state: s.state,
		schedulers: func(string) (scheduler.Scheduler, error) { return rs, nil }, now: time.Now, logger: s.logger}
	require.NoError(t, w.process(context.Background(), eval, token))
	require.NoError(t, s.broker.Ack(eval.Id, token))
	require.Greater(t, int(rs.passes.Load()), maxPlanAttempts)

	snap := s.state.Snapshot()
	live := 0
	for _, a := range snap.AllocsByJob("default", "web") {
		if a.DesiredStatus == structs.AllocDesiredRun {
			live++
		}
	}
	require.Equal(t, count, live, "every placement made it in the end")
	require.Equal(t, structs.EvalStatusComplete, snap.Eval(eval.Id).Status)
}

// TestPlanRefusedWithoutProgressFailsWithAFollowUp: when every pass loses
// every node, the worker gives up after maxPlanAttempts passes, and the
// job is not left short: a follow-up evaluation waits to try again.
func TestPlanRefusedWithoutProgressFailsWithAFollowUp(t *testing.T) {
	s, eval, token := planRaceServer(t, 2*maxPlanAttempts+2, 2)
	rs := &greedyRival{s: s, keep: 0}
	start := time.Now()
	w := &worker{backend: localBackend{s}, state: s.state,
		schedulers: func(string) (scheduler.Scheduler, error) { return rs, nil }, now: time.Now, logger: s.logger}
	require.NoError(t, w.process(context.Background(), eval, token))
	require.NoError(t, s.broker.Ack(eval.Id, token))
	require.Equal(t, int32(maxPlanAttempts), rs.passes.Load())

	snap := s.state.Snapshot()
	failed := snap.Eval(eval.Id)
	require.Equal(t, structs.EvalStatusFailed, failed.Status)
	var followUps []*structs.Evaluation
	for _, e := range snap.Evals() {
		if e.PreviousEval == eval.Id && e.TriggeredBy == structs.EvalTriggerFailedFollowUp {
			followUps = append(followUps, e)
		}
	}
	require.Len(t, followUps, 1)
	require.Equal(t, structs.EvalStatusPending, followUps[0].Status)
	require.Equal(t, "web", followUps[0].JobId)
	require.Greater(t, followUps[0].WaitUntil, start.UnixNano(), "the follow-up waits before it runs")
}
