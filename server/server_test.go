package server

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/internal/testing/leakcheck"
	"github.com/droverhq/drover/server/raft"
	"github.com/droverhq/drover/structs"
)

func TestMain(m *testing.M) {
	leakcheck.VerifyTestMain(m)
}

// testLogger logs to stderr when DROVER_TEST_LOG is set, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("DROVER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func testServer(t *testing.T, hb heartbeat.Config) *Server {
	t.Helper()
	return testServerOn(t, hb, nil)
}

// testServerOn is testServer on clock c (nil: the real clock).
func testServerOn(t *testing.T, hb heartbeat.Config, c clock.Clock) *Server {
	t.Helper()
	s, err := New(Config{
		Clock: c,
		Name:  "s1", Region: "global", Datacenter: "dc1",
		DataDir: t.TempDir(), BindAddr: "127.0.0.1:0",
		NumSchedulers: 1, EnabledSchedulers: []string{"service", "batch", "system", "sysbatch", "_core"},
		Heartbeat:          hb,
		JobDefaultPriority: 50, JobMaxPriority: 100, Logger: testLogger(),
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.WaitForLeader(ctx))
	return s
}

func mockNode(id string) *structs.Node {
	return &structs.Node{
		Id: id, SecretId: id + "-secret", Name: id, Datacenter: "dc1",
		Resources: &structs.Resources{CpuMhz: 1000, MemoryMb: 1000},
		Drivers:   map[string]*structs.DriverInfo{"mock": {Detected: true, Healthy: true}},
	}
}

func mockJob(id string, count int32) *structs.Job {
	return &structs.Job{
		Id: id, TaskGroups: []*structs.TaskGroup{{
			Name: "g", Count: count,
			Tasks: []*structs.Task{{Name: "t", Driver: "mock", Resources: &structs.Resources{CpuMhz: 100, MemoryMb: 100}}},
		}},
	}
}

func waitState(t *testing.T, s *Server, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var idx uint64
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		idx = s.WaitForIndex(ctx, idx)
	}
}

func TestClientCannotTouchAnotherNodesAllocations(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx := context.Background()
	_, err := s.RegisterNode(ctx, mockNode("a"))
	require.NoError(t, err)
	resp, err := s.RegisterJob(ctx, mockJob("j", 1))
	require.NoError(t, err)
	waitState(t, s, "the job's evaluation to complete", func() bool {
		e, err := s.Evaluation(ctx, resp.EvalId)
		return err == nil && e.Status == structs.EvalStatusComplete
	})
	allocs, _ := s.Allocations(ctx, "", "", "a")
	require.Len(t, allocs, 1)
	alloc := allocs[0]
	_, err = s.RegisterNode(ctx, mockNode("b"))
	require.NoError(t, err)
	before := s.StateIndex()

	report := []*structs.Allocation{{Id: alloc.Id, ClientStatus: structs.AllocClientFailed}}
	_, err = s.UpdateAllocations(ctx, "b", "b-secret", report)
	require.ErrorIs(t, err, ErrPermissionDenied)
	_, err = s.UpdateAllocations(ctx, "a", "b-secret", report)
	require.ErrorIs(t, err, ErrPermissionDenied)
	_, _, err = s.NodeAllocations(ctx, "a", "wrong", 0, 0)
	require.ErrorIs(t, err, ErrPermissionDenied)
	_, err = s.RegisterNode(ctx, &structs.Node{Id: "a", SecretId: "stolen", Name: "a"})
	require.ErrorIs(t, err, ErrPermissionDenied, "a node id cannot be taken over with another secret")
	require.Equal(t, before, s.StateIndex(), "refused calls change nothing")

	_, err = s.UpdateAllocations(ctx, "a", "a-secret", []*structs.Allocation{{Id: alloc.Id, ClientStatus: "exploded"}})
	require.ErrorIs(t, err, ErrBadRequest)
	_, err = s.UpdateAllocations(ctx, "a", "a-secret", report)
	require.NoError(t, err)
	got, _ := s.Allocations(ctx, "", "", "a")
	require.Equal(t, structs.AllocClientFailed, got[0].ClientStatus)
}

func TestMissedHeartbeatMarksNodeDownAndReplacesWork(t *testing.T) {
	hb := heartbeat.Config{MinTTL: 200 * time.Millisecond, Grace: 100 * time.Millisecond, FailoverTTL: time.Second, MaxPerSecond: 50}
	c := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := testServerOn(t, hb, c)
	ctx := context.Background()
	_, err := s.RegisterNode(ctx, mockNode("a"))
	require.NoError(t, err)
	_, err = s.RegisterJob(ctx, mockJob("j", 2))
	require.NoError(t, err)
	waitState(t, s, "2 allocations on node a", func() bool {
		allocs, _ := s.Allocations(ctx, "", "", "a")
		return len(allocs) == 2
	})
	// Node b keeps heartbeating as time is stepped; node a goes silent.
	// Its TTL (at most 2·200ms, plus 100ms of grace) runs out within the
	// steps; b's is reset every step.
	_, err = s.RegisterNode(ctx, mockNode("b"))
	require.NoError(t, err)
	for range 6 {
		_, err = s.Heartbeat(ctx, "b", "b-secret")
		require.NoError(t, err)
		c.Advance(100 * time.Millisecond)
	}
	c.Wait()
	require.Equal(t, structs.NodeStatusReady, s.state.Snapshot().Node("b").Status)

	waitState(t, s, "node a down and its work replaced on b", func() bool {
		snap := s.state.Snapshot()
		if snap.Node("a").GetStatus() != structs.NodeStatusDown {
			return false
		}
		onB := 0
		for _, a := range snap.AllocsByNode("b") {
			if a.DesiredStatus == structs.AllocDesiredRun {
				onB++
			}
		}
		return onB == 2
	})
	for _, a := range s.state.Snapshot().AllocsByNode("a") {
		require.Equal(t, structs.AllocClientLost, a.ClientStatus)
		require.Equal(t, structs.AllocDesiredStop, a.DesiredStatus)
	}
	require.Equal(t, structs.NodeStatusReady, s.state.Snapshot().Node("b").Status, "b, stepped past nothing, stays ready")

	// A node that comes back is ready again.
	_, err = s.Heartbeat(ctx, "a", "a-secret")
	require.NoError(t, err)
	require.Equal(t, structs.NodeStatusReady, s.state.Snapshot().Node("a").Status)
}

func TestSnapshotAndRestoreKeepState(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{
		Name: "s1", DataDir: dir, BindAddr: "127.0.0.1:0", NumSchedulers: 1,
		EnabledSchedulers: []string{"service"}, Heartbeat: heartbeat.DefaultConfig(),
		Raft:               raft.Config{SnapshotThreshold: 5, SnapshotInterval: time.Millisecond, TrailingLogs: 2},
		JobDefaultPriority: 50, JobMaxPriority: 100, Logger: testLogger(),
	}
	s, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, s.WaitForLeader(ctx))
	for i := range 10 {
		_, err := s.RegisterJob(ctx, mockJob("job"+string(rune('a'+i)), 0))
		require.NoError(t, err)
	}
	// Snapshots are taken on the raft goroutine's tick, not on a state
	// change, so poll them (with a deadline).
	require.Eventually(t, func() bool {
		snap, err := s.store.Snapshot()
		require.NoError(t, err)
		first, err := s.store.FirstIndex()
		require.NoError(t, err)
		return snap.GetMetadata().GetIndex() > 0 && first > 1
	}, 10*time.Second, 10*time.Millisecond, "a snapshot is taken and the log compacted behind it")
	want := s.state.Snapshot().Persist()
	require.NoError(t, s.Shutdown(ctx))

	s2, err := New(cfg)
	require.NoError(t, err)
	defer s2.Shutdown(ctx)
	require.NoError(t, s2.WaitForLeader(ctx))
	got := s2.state.Snapshot()
	require.Len(t, got.Jobs("", ""), len(want.Jobs))
	require.Len(t, got.Evals(), len(want.Evals))
	require.GreaterOrEqual(t, got.Index(), want.Index)
}
