package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/gc"
	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/structs"
)

// gcConfig is a server with GC thresholds, on a clock the test steps.
// Its workers take no _core evaluation: the ones the leader's GC loop
// enqueues as the test steps the clock wait in the broker, and the test
// collects by hand.
func gcConfig(dir string, clock *clock.Fake) Config {
	return Config{
		Name: "s1", DataDir: dir, BindAddr: "127.0.0.1:0", NumSchedulers: 1,
		EnabledSchedulers:  []string{"service", "batch", "system", "sysbatch"},
		Heartbeat:          heartbeat.DefaultConfig(),
		JobDefaultPriority: 50, JobMaxPriority: 100, Logger: testLogger(),
		GC: gc.Config{NodeGCThreshold: 24 * time.Hour, JobGCThreshold: 4 * time.Hour,
			EvalGCThreshold: time.Hour, BatchEvalGCThreshold: 24 * time.Hour},
		Clock: clock,
	}
}

func startGCServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.WaitForLeader(ctx))
	return s
}

// deadJob registers a job that places nothing and stops it, returning once
// both evaluations are complete.
func deadJob(t *testing.T, s *Server, id string) {
	t.Helper()
	ctx := context.Background()
	resp, err := s.RegisterJob(ctx, mockJob(id, 0))
	require.NoError(t, err)
	dresp, err := s.DeregisterJob(ctx, "", id, false)
	require.NoError(t, err)
	waitState(t, s, "the job's evaluations to complete", func() bool {
		e1, err1 := s.Evaluation(ctx, resp.EvalId)
		e2, err2 := s.Evaluation(ctx, dresp.EvalId)
		return err1 == nil && err2 == nil && e1.TerminalStatus() && e2.TerminalStatus()
	})
	job, err := s.Job(ctx, "", id)
	require.NoError(t, err)
	require.Equal(t, structs.JobStatusDead, job.Status)
}

func TestJobGCUsesTheRecordedTimeAcrossLeaderChange(t *testing.T) {
	clock := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	cfg := gcConfig(dir, clock)
	s := startGCServer(t, cfg)
	ctx := context.Background()
	deadJob(t, s, "old")

	clock.Advance(3 * time.Hour)
	n, err := s.collect(ctx, cfg.GC, gc.Kinds{Jobs: true})
	require.NoError(t, err)
	require.Zero(t, n, "a job dead for 3h is younger than the 4h threshold")

	// A new leader (the restarted server) must not restart the clock.
	require.NoError(t, s.Shutdown(ctx))
	s = startGCServer(t, cfg)
	defer s.Shutdown(ctx)
	deadJob(t, s, "young")
	clock.Advance(time.Hour)
	n, err = s.collect(ctx, cfg.GC, gc.Kinds{Jobs: true})
	require.NoError(t, err)
	require.Equal(t, 3, n, "the old job and its two evaluations")
	_, err = s.Job(ctx, "", "old")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.Job(ctx, "", "young")
	require.NoError(t, err, "the job that died an hour ago stays")
	evals, _ := s.Evaluations(ctx, "", "old")
	require.Empty(t, evals)
}

func TestNodeGCNeverPurgesANodeWithWork(t *testing.T) {
	clock := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := gcConfig(t.TempDir(), clock)
	s := startGCServer(t, cfg)
	defer s.Shutdown(context.Background())
	ctx := context.Background()
	for _, id := range []string{"idle", "busy"} {
		_, err := s.RegisterNode(ctx, mockNode(id))
		require.NoError(t, err)
	}
	resp, err := s.RegisterJob(ctx, mockJob("j", 1))
	require.NoError(t, err)
	waitState(t, s, "the evaluation to complete", func() bool {
		e, err := s.Evaluation(ctx, resp.EvalId)
		return err == nil && e.Status == structs.EvalStatusComplete
	})
	allocs, _ := s.Allocations(ctx, "", "j", "")
	require.Len(t, allocs, 1)
	busy := allocs[0].NodeId
	idle := "idle"
	if busy == "idle" {
		idle = "busy"
	}
	// Both nodes are recorded down without their allocations being marked
	// lost, as when a node's status is set by hand: the busy one still has
	// an allocation that is not finished.
	for _, id := range []string{"idle", "busy"} {
		n := mockNode(id)
		n.Status = structs.NodeStatusDown
		_, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_NodeUpsert{
			NodeUpsert: &structs.NodeUpsert{Node: n}}})
		require.NoError(t, err)
	}

	clock.Advance(25 * time.Hour)
	n, err := s.collect(ctx, cfg.GC, gc.Kinds{Nodes: true})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	nodes, _ := s.Nodes(ctx)
	require.Len(t, nodes, 1)
	require.Equal(t, busy, nodes[0].Id, "the node still running work is kept; %s is purged", idle)
}

func TestGCSplitsLargeCollectionsAcrossEntries(t *testing.T) {
	clock := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := gcConfig(t.TempDir(), clock)
	s := startGCServer(t, cfg)
	defer s.Shutdown(context.Background())
	s.gcBatchSize = 2
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		deadJob(t, s, id)
	}
	// Three jobs with two evaluations each: 9 objects, 5 entries of at most 2.
	clock.Advance(5 * time.Hour)
	before := s.StateIndex()
	n, err := s.collect(ctx, cfg.GC, gc.Kinds{Jobs: true})
	require.NoError(t, err)
	require.Equal(t, 9, n)
	require.Equal(t, before+5, s.StateIndex(), "one raft entry per batch")
	jobs, _ := s.Jobs(ctx, "", "")
	require.Empty(t, jobs)
}

func TestCoreEvaluationsRunThroughTheBroker(t *testing.T) {
	clock := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := gcConfig(t.TempDir(), clock)
	cfg.EnabledSchedulers = append(cfg.EnabledSchedulers, coreEvalType)
	s := startGCServer(t, cfg)
	defer s.Shutdown(context.Background())
	deadJob(t, s, "x")
	clock.Advance(5 * time.Hour)
	s.broker.Enqueue(&structs.Evaluation{Id: "core-1", Type: coreEvalType, JobId: coreJobJob, Priority: corePriority})
	waitState(t, s, "the core evaluation to collect the job", func() bool {
		_, err := s.Job(context.Background(), "", "x")
		return err != nil
	})
}

func TestForcedGCIgnoresThresholdsButKeepsTheLatestBatchEval(t *testing.T) {
	clock := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := gcConfig(t.TempDir(), clock)
	s := startGCServer(t, cfg)
	defer s.Shutdown(context.Background())
	ctx := context.Background()
	job := mockJob("b", 0)
	job.Type = structs.JobTypeBatch
	for range 2 {
		resp, err := s.RegisterJob(ctx, job)
		require.NoError(t, err)
		waitState(t, s, "the evaluation to complete", func() bool {
			e, err := s.Evaluation(ctx, resp.EvalId)
			return err == nil && e.TerminalStatus()
		})
	}
	n, err := s.GarbageCollect(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "no time has passed, yet the older evaluation goes")
	evals, _ := s.Evaluations(ctx, "", "b")
	require.Len(t, evals, 1)
}
