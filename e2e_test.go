package drover_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/driver/rawexec"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.VerifyTestMain(m)
}

// clientOptions are the options of the tests' client: mock and raw_exec
// drivers, registering with srv.
func clientOptions(dir string, srv *drover.Server) drover.ClientOptions {
	return drover.ClientOptions{
		DataDir: dir,
		Servers: []string{srv.Addr()},
		Drivers: []drover.Driver{mock.New(nil), rawexec.New(nil)},
	}
}

func serviceJob(t *testing.T, id string, count int32) *drover.Job {
	return &drover.Job{
		Id: id, Type: "service",
		TaskGroups: []*drover.TaskGroup{{
			Name: "api", Count: count,
			Tasks: []*drover.Task{{
				Name: "server", Driver: "mock",
				Config:    drover.TaskConfig(map[string]any{"run_for": "-1"}),
				Resources: &drover.Resources{CpuMhz: 20, MemoryMb: 16},
			}},
		}},
	}
}

func allocsByStatus(t *testing.T, srv *drover.Server, jobID string) map[string]int {
	allocs, err := srv.Allocations(context.Background(), "", jobID, "")
	require.NoError(t, err)
	out := map[string]int{}
	for _, a := range allocs {
		out[a.ClientStatus]++
	}
	return out
}

func TestEndToEndJobRunsAndSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	cli := harness.StartClient(t, clientOptions(filepath.Join(dir, "client"), srv))
	ctx := context.Background()

	nodes, err := srv.Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	require.Equal(t, "ready", nodes[0].Status)
	require.Empty(t, nodes[0].SecretId, "node listings never carry the secret")
	require.Contains(t, nodes[0].Attributes, "cpu.arch")
	require.True(t, nodes[0].Drivers["raw_exec"].GetHealthy())

	resp, err := srv.RegisterJob(ctx, serviceJob(t, "web", 3))
	require.NoError(t, err)
	harness.WaitFor(t, srv, 30*time.Second, "3 running allocations", func() bool {
		return allocsByStatus(t, srv, "web")["running"] == 3
	})
	eval, err := srv.Evaluation(ctx, resp.EvalId)
	require.NoError(t, err)
	require.Equal(t, "complete", eval.Status)
	job, err := srv.Job(ctx, "", "web")
	require.NoError(t, err)
	require.Equal(t, "running", job.Status)

	before, err := srv.Allocations(ctx, "", "web", "")
	require.NoError(t, err)
	beforeIndex := srv.StateIndex()

	// Stop both agents, then bring the server back on the same data dir.
	harness.Shutdown(t, cli, srv)
	srv = harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)

	require.GreaterOrEqual(t, srv.StateIndex(), beforeIndex)
	job, err = srv.Job(ctx, "", "web")
	require.NoError(t, err)
	require.Equal(t, int32(3), job.TaskGroups[0].Count)
	nodes, err = srv.Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	after, err := srv.Allocations(ctx, "", "web", "")
	require.NoError(t, err)
	require.Len(t, after, len(before))
	for i := range before {
		require.Equal(t, before[i].Id, after[i].Id)
		require.Equal(t, before[i].NodeId, after[i].NodeId)
		require.Equal(t, before[i].ClientStatus, after[i].ClientStatus)
	}
	e2, err := srv.Evaluation(ctx, resp.EvalId)
	require.NoError(t, err)
	require.Equal(t, "complete", e2.Status)
}

func TestTaskExitCodeReportedAsFailure(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	cli := harness.StartClient(t, clientOptions(filepath.Join(dir, "client"), srv))
	defer harness.Shutdown(t, cli, srv)

	job := &drover.Job{
		Id: "fails", Type: "batch",
		TaskGroups: []*drover.TaskGroup{{
			Name: "g", Count: 1,
			RestartPolicy: &drover.RestartPolicy{
				Attempts: 0, Mode: "fail", Interval: durationpb.New(time.Minute), Delay: durationpb.New(0),
			},
			Tasks: []*drover.Task{{
				Name: "sh", Driver: "raw_exec",
				Config:    drover.TaskConfig(map[string]any{"command": "/bin/sh", "args": []any{"-c", "exit 3"}}),
				Resources: &drover.Resources{CpuMhz: 20, MemoryMb: 16},
			}},
		}},
	}
	_, err := srv.RegisterJob(context.Background(), job)
	require.NoError(t, err)
	harness.WaitFor(t, srv, 30*time.Second, "a failed allocation", func() bool {
		return allocsByStatus(t, srv, "fails")["failed"] == 1
	})
	allocs, err := srv.Allocations(context.Background(), "", "fails", "")
	require.NoError(t, err)
	st := allocs[0].TaskStates["sh"]
	require.Equal(t, "dead", st.State)
	require.True(t, st.Failed)
	found := false
	for _, ev := range st.Events {
		if ev.Type == "Terminated" {
			require.Equal(t, int32(3), ev.ExitCode)
			found = true
		}
	}
	require.True(t, found, "a Terminated event carries the exit code: %v", st.Events)
}

func TestInvalidJobRejectedWhole(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	index := srv.StateIndex()

	job := &drover.Job{
		Id: "web", Type: "cron", Priority: 500,
		TaskGroups: []*drover.TaskGroup{
			{Name: "api", Count: -1, Tasks: []*drover.Task{{Name: "t"}}},
			{Name: "api", Count: 1},
		},
	}
	_, err := srv.RegisterJob(context.Background(), job)
	require.ErrorIs(t, err, drover.ErrValidation)
	var verr *drover.ValidationError
	require.True(t, errors.As(err, &verr))
	require.Contains(t, verr.Problems, `job "web": group "api": count must be >= 0`)
	require.Contains(t, verr.Problems, `job "web": type "cron" is not one of service, batch, system, sysbatch`)
	require.Contains(t, verr.Problems, `job "web": priority 500 is outside 1..100`)
	require.Contains(t, verr.Problems, `job "web": group "api": task "t": driver is required`)
	require.Contains(t, verr.Problems, `job "web": group "api" is defined more than once`)
	require.Contains(t, verr.Problems, `job "web": group "api": at least one task is required`)

	jobs, err := srv.Jobs(context.Background(), "", "")
	require.NoError(t, err)
	require.Empty(t, jobs, "nothing of an invalid job is stored")
	require.Equal(t, index, srv.StateIndex(), "an invalid job changes nothing")
}

func TestUnplaceableJobProducesBlockedEvaluation(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	cli := harness.StartClient(t, clientOptions(filepath.Join(dir, "client"), srv))
	defer harness.Shutdown(t, cli, srv)
	ctx := context.Background()

	job := serviceJob(t, "huge", 1)
	job.TaskGroups[0].Tasks[0].Resources.MemoryMb = 1 << 40
	resp, err := srv.RegisterJob(ctx, job)
	require.NoError(t, err)
	harness.WaitFor(t, srv, 30*time.Second, "the evaluation to complete", func() bool {
		e, err := srv.Evaluation(ctx, resp.EvalId)
		return err == nil && e.Status == "complete"
	})
	eval, err := srv.Evaluation(ctx, resp.EvalId)
	require.NoError(t, err)
	require.NotEmpty(t, eval.BlockedEval)
	require.Equal(t, int32(1), eval.QueuedAllocations["api"])
	require.Equal(t, int32(1), eval.FailedTgAllocs["api"].DimensionExhausted["memory"])
	blocked, err := srv.Evaluation(ctx, eval.BlockedEval)
	require.NoError(t, err)
	require.Equal(t, "blocked", blocked.Status)

	// Nor does a job without a feasible datacenter place anything.
	job2 := serviceJob(t, "elsewhere", 1)
	job2.Datacenters = []string{"dc9"}
	resp2, err := srv.RegisterJob(ctx, job2)
	require.NoError(t, err)
	harness.WaitFor(t, srv, 30*time.Second, "the evaluation to complete", func() bool {
		e, err := srv.Evaluation(ctx, resp2.EvalId)
		return err == nil && e.Status == "complete"
	})
	allocs, err := srv.Allocations(ctx, "", "elsewhere", "")
	require.NoError(t, err)
	require.Empty(t, allocs)
}

func TestShutdownIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	cli := harness.StartClient(t, clientOptions(filepath.Join(dir, "client"), srv))
	harness.Shutdown(t, cli, srv)
	harness.Shutdown(t, cli, srv)
	select {
	case <-srv.Done():
	default:
		t.Fatal("Done is closed after Shutdown")
	}
	require.NoError(t, srv.Err())
	_, err := srv.RegisterJob(context.Background(), serviceJob(t, "late", 1))
	require.ErrorIs(t, err, drover.ErrShutdown)
}

func TestMetricsGoToTheHostsRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, err := drover.NewServer(drover.ServerOptions{
		DataDir: t.TempDir(), BindAddr: "127.0.0.1:0", Registerer: reg, Logger: harness.Logger(t),
	})
	require.NoError(t, err)
	defer harness.Shutdown(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitForLeader(ctx))
	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: t.TempDir(), Servers: []string{srv.Addr()}, Registerer: reg,
		Drivers: []drover.Driver{mock.New(nil)}, Logger: harness.Logger(t),
	})
	require.NoError(t, err)
	defer harness.Shutdown(t, cli)
	_, err = srv.RegisterJob(ctx, serviceJob(t, "m", 1))
	require.NoError(t, err)
	harness.WaitFor(t, srv, 30*time.Second, "a running allocation", func() bool {
		return allocsByStatus(t, srv, "m")["running"] == 1
	})

	values := map[string]float64{}
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			values[f.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	require.Equal(t, 1.0, values["drover_server_is_leader"])
	require.Equal(t, 1.0, values["drover_server_jobs_registered_total"])
	require.Equal(t, 1.0, values["drover_client_task_starts_total"])

	global, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, f := range global {
		require.NotContains(t, f.GetName(), "drover_", "nothing is registered globally")
	}
}

func TestClientKeepsItsIdentityAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	cli := harness.StartClient(t, clientOptions(filepath.Join(dir, "client"), srv))
	id := cli.NodeID()
	harness.Shutdown(t, cli)

	cli = harness.StartClient(t, clientOptions(filepath.Join(dir, "client"), srv))
	defer harness.Shutdown(t, cli)
	require.Equal(t, id, cli.NodeID())
	nodes, err := srv.Nodes(context.Background())
	require.NoError(t, err)
	require.Len(t, nodes, 1, "a restarted client is the same node, not a new one")
}

func TestServerShutdownDoesNotWaitForBlockedClients(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	cli := harness.StartClient(t, clientOptions(filepath.Join(dir, "client"), srv))
	defer harness.Shutdown(t, cli)

	// The client long-polls its allocations for up to 30 s at a time; the
	// server must end those calls rather than wait them out.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	require.NoError(t, ctx.Err(), "shutdown finished before its deadline")
}

func TestDeregisterStopsTheJobsTasks(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	cli := harness.StartClient(t, clientOptions(filepath.Join(dir, "client"), srv))
	defer harness.Shutdown(t, cli, srv)
	ctx := context.Background()

	_, err := srv.RegisterJob(ctx, serviceJob(t, "web", 2))
	require.NoError(t, err)
	harness.WaitFor(t, srv, 30*time.Second, "2 running allocations", func() bool {
		return allocsByStatus(t, srv, "web")["running"] == 2
	})
	_, err = srv.DeregisterJob(ctx, "", "web", false)
	require.NoError(t, err)
	harness.WaitFor(t, srv, 30*time.Second, "the client to stop both tasks", func() bool {
		return allocsByStatus(t, srv, "web")["complete"] == 2
	})
	job, err := srv.Job(ctx, "", "web")
	require.NoError(t, err)
	require.True(t, job.Stop)
	require.Equal(t, "dead", job.Status)
	allocs, err := srv.Allocations(ctx, "", "web", "")
	require.NoError(t, err)
	for _, a := range allocs {
		require.Equal(t, "stop", a.DesiredStatus)
		require.Equal(t, "dead", a.TaskStates["server"].State)
		require.False(t, a.TaskStates["server"].Failed, "a stop is not a failure")
	}

	_, err = srv.DeregisterJob(ctx, "", "web", true)
	require.NoError(t, err)
	_, err = srv.Job(ctx, "", "web")
	require.ErrorIs(t, err, drover.ErrNotFound)
	_, err = srv.DeregisterJob(ctx, "", "web", true)
	require.ErrorIs(t, err, drover.ErrNotFound)
}
