package drover_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/mock"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
	"github.com/droverhq/drover/structs"
)

// rollingJob is a service job of count mock tasks (their config from
// task) rolled out per u, healthy after min_healthy_time of running.
func rollingJob(t *testing.T, count int32, task map[string]any, u *structs.UpdateStrategy) *drover.Job {
	if u.HealthCheck == nil {
		u.HealthCheck = proto.String(structs.HealthCheckTaskStates)
	}
	if u.MinHealthyTime == nil {
		u.MinHealthyTime = durationpb.New(200 * time.Millisecond)
	}
	if u.HealthyDeadline == nil {
		u.HealthyDeadline = durationpb.New(30 * time.Second)
	}
	return &drover.Job{
		Id: "web", Datacenters: []string{"dc1"}, Update: u,
		TaskGroups: []*drover.TaskGroup{{
			Name: "api", Count: count,
			RestartPolicy: &drover.RestartPolicy{Attempts: 0, Interval: durationpb.New(time.Minute),
				Delay: durationpb.New(0), Mode: structs.RestartModeFail},
			ReschedulePolicy: &structs.ReschedulePolicy{Attempts: 0, Interval: durationpb.New(time.Hour)},
			Tasks: []*drover.Task{{Name: "t", Driver: "mock", Config: drover.TaskConfig(task),
				Resources: &drover.Resources{CpuMhz: 10, MemoryMb: 16}}},
		}},
	}
}

// deploymentOf waits for the deployment of the job's version to end and
// returns it.
func deploymentOf(t *testing.T, srv *drover.Server, version uint64, timeout time.Duration) *structs.Deployment {
	t.Helper()
	defer logJobStateOnFailure(t, srv)
	var d *structs.Deployment
	harness.WaitFor(t, srv, timeout, "the deployment of the version to end", func() bool {
		ds, err := srv.JobDeployments(context.Background(), "default", "web", false)
		require.NoError(t, err)
		for _, d = range ds {
			if d.JobVersion == version && !d.Active() {
				return true
			}
		}
		return false
	})
	return d
}

// logJobStateOnFailure logs job web's allocations and deployments once the
// test failed, for a failure's report.
func logJobStateOnFailure(t *testing.T, srv *drover.Server) {
	if !t.Failed() {
		return
	}
	ctx := drover.AllowStale(context.Background())
	allocs, err := srv.Allocations(ctx, "default", "web", "")
	t.Logf("allocations of web (%v):", err)
	for _, a := range allocs {
		t.Logf("  %s version %d desired %s client %s deployment %s status {%v} modify %d/%d",
			a.Id, a.GetJob().GetVersion(), a.DesiredStatus, a.ClientStatus, a.DeploymentId,
			a.GetDeploymentStatus(), a.ModifyIndex, a.AllocModifyIndex)
	}
	ds, err := srv.JobDeployments(ctx, "default", "web", true)
	t.Logf("deployments of web (%v):", err)
	for _, d := range ds {
		t.Logf("  %s version %d %s (%s) groups %v", d.Id, d.JobVersion, d.Status, d.StatusDescription, d.TaskGroups)
	}
}

// serving counts the allocations that serve: wanted running, running,
// and either of an older version or found healthy.
func serving(t *testing.T, srv *drover.Server, version uint64) int {
	allocs, err := srv.Allocations(drover.AllowStale(context.Background()), "default", "web", "")
	require.NoError(t, err)
	n := 0
	for _, a := range allocs {
		if a.DesiredStatus == structs.AllocDesiredRun && a.ClientStatus == structs.AllocClientRunning &&
			(a.Job.Version < version || a.DeploymentStatus.IsHealthy()) {
			n++
		}
	}
	return n
}

func TestRollingUpdateKeepsEightOfTenServing(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	cli := harness.StartClient(t, clientOptions(filepath.Join(dir, "client"), srv))
	defer harness.Shutdown(t, cli)
	ctx := context.Background()
	u := func() *structs.UpdateStrategy { return &structs.UpdateStrategy{MaxParallel: proto.Int32(2)} }

	_, err := srv.RegisterJob(ctx, rollingJob(t, 10, map[string]any{"run_for": "1h"}, u()))
	require.NoError(t, err)
	require.Equal(t, structs.DeploymentStatusSuccessful, deploymentOf(t, srv, 0, time.Minute).Status)

	_, err = srv.RegisterJob(ctx, rollingJob(t, 10, map[string]any{"run_for": "2h"}, u()))
	require.NoError(t, err)
	least := 10
	harness.WaitFor(t, srv, 2*time.Minute, "the update to finish", func() bool {
		least = min(least, serving(t, srv, 1))
		d, err := srv.LatestDeployment(ctx, "default", "web")
		require.NoError(t, err)
		return d.JobVersion == 1 && d.Status == structs.DeploymentStatusSuccessful
	})
	require.Equal(t, 8, least, "max_parallel 2 of 10: never fewer than 8 serving, and the rollout used its room")
	require.Equal(t, 10, serving(t, srv, 1))
	job, err := srv.Job(ctx, "default", "web")
	require.NoError(t, err)
	require.True(t, job.Stable)
}

func TestCrashingVersionIsRevertedToTheStableOne(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	cli := harness.StartClient(t, clientOptions(filepath.Join(dir, "client"), srv))
	defer harness.Shutdown(t, cli)
	ctx := context.Background()
	u := func() *structs.UpdateStrategy {
		return &structs.UpdateStrategy{MaxParallel: proto.Int32(1), AutoRevert: proto.Bool(true), ProgressDeadline: durationpb.New(0)}
	}
	_, err := srv.RegisterJob(ctx, rollingJob(t, 3, map[string]any{"run_for": "1h"}, u()))
	require.NoError(t, err)
	require.Equal(t, structs.DeploymentStatusSuccessful, deploymentOf(t, srv, 0, time.Minute).Status)

	_, err = srv.RegisterJob(ctx, rollingJob(t, 3, map[string]any{"run_for": "50ms", "exit_code": 1}, u()))
	require.NoError(t, err)
	failed := deploymentOf(t, srv, 1, time.Minute)
	require.Equal(t, structs.DeploymentStatusFailed, failed.Status)
	require.Equal(t, structs.DeploymentDescFailedAllocations+" - rolling back to job version 0", failed.StatusDescription)

	back := deploymentOf(t, srv, 2, time.Minute)
	require.Equal(t, structs.DeploymentStatusSuccessful, back.Status, "the previous version runs again as version 2")
	job, err := srv.Job(ctx, "default", "web")
	require.NoError(t, err)
	require.Equal(t, uint64(2), job.Version)
	require.Equal(t, "1h", job.TaskGroups[0].Tasks[0].Config.AsMap()["run_for"])
	require.Equal(t, 3, serving(t, srv, 3))
}

func TestCanariesWaitForPromotionThenFinish(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	cli := harness.StartClient(t, clientOptions(filepath.Join(dir, "client"), srv))
	defer harness.Shutdown(t, cli)
	ctx := context.Background()
	u := func() *structs.UpdateStrategy {
		return &structs.UpdateStrategy{MaxParallel: proto.Int32(2), Canary: proto.Int32(1)}
	}
	_, err := srv.RegisterJob(ctx, rollingJob(t, 4, map[string]any{"run_for": "1h"}, u()))
	require.NoError(t, err)
	deploymentOf(t, srv, 0, time.Minute)

	_, err = srv.RegisterJob(ctx, rollingJob(t, 4, map[string]any{"run_for": "2h"}, u()))
	require.NoError(t, err)
	var d *structs.Deployment
	harness.WaitFor(t, srv, time.Minute, "a healthy canary", func() bool {
		d, err = srv.LatestDeployment(ctx, "default", "web")
		require.NoError(t, err)
		return d.JobVersion == 1 && d.TaskGroups["api"].HealthyAllocs == 1
	})
	require.Equal(t, structs.DeploymentStatusRunning, d.Status)
	require.True(t, d.RequiresPromotion())
	allocs, err := srv.Allocations(ctx, "default", "web", "")
	require.NoError(t, err)
	versions := map[uint64]int{}
	for _, a := range allocs {
		if a.DesiredStatus == structs.AllocDesiredRun && a.ClientStatus == structs.AllocClientRunning {
			versions[a.Job.Version]++
		}
	}
	require.Equal(t, map[uint64]int{0: 4, 1: 1}, versions, "the old allocations and the canary side by side")

	_, err = srv.PromoteDeployment(ctx, d.Id, true, nil)
	require.NoError(t, err)
	done := deploymentOf(t, srv, 1, time.Minute)
	require.Equal(t, structs.DeploymentStatusSuccessful, done.Status)
	require.Equal(t, 4, serving(t, srv, 2))
}

// TestDeploymentSurvivesALeaderKill kills the leader of three servers in
// the middle of a rolling update: the new leader's watcher carries on,
// and no allocation is placed twice.
func TestDeploymentSurvivesALeaderKill(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3})
	leader := c.WaitLeader(30 * time.Second)
	var addrs []string
	for _, m := range c.Members() {
		addrs = append(addrs, m.Addr)
	}
	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: filepath.Join(t.TempDir(), "client"), Servers: addrs, Drivers: []drover.Driver{mock.New(nil)},
		Logger: harness.Logger(t).With("agent", "client"),
	})
	require.NoError(t, err)
	defer harness.Shutdown(t, cli)
	select {
	case <-cli.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("client did not register")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	u := func() *structs.UpdateStrategy {
		return &structs.UpdateStrategy{MaxParallel: proto.Int32(2), MinHealthyTime: durationpb.New(time.Second)}
	}
	srv := leader.Server()
	require.NoError(t, registerRetrying(ctx, srv, rollingJob(t, 6, map[string]any{"run_for": "1h"}, u())))
	deploymentOf(t, srv, 0, time.Minute)

	require.NoError(t, registerRetrying(ctx, srv, rollingJob(t, 6, map[string]any{"run_for": "2h"}, u())))
	harness.WaitFor(t, srv, time.Minute, "the rollout to be under way", func() bool {
		d, err := srv.LatestDeployment(ctx, "default", "web")
		require.NoError(t, err)
		return d.JobVersion == 1 && d.TaskGroups["api"].HealthyAllocs >= 1
	})
	leader.Stop()
	next := c.WaitLeaderAmong(30*time.Second, leader).Server()
	d := deploymentOf(t, next, 1, 2*time.Minute)
	require.Equal(t, structs.DeploymentStatusSuccessful, d.Status)
	require.Equal(t, int32(6), d.TaskGroups["api"].PlacedAllocs, "each replacement placed once")

	allocs, err := next.Allocations(ctx, "default", "web", "")
	require.NoError(t, err)
	placed := map[string]int{}
	for _, a := range allocs {
		if a.Job.Version == 1 {
			placed[a.Name]++
			require.Equal(t, structs.AllocDesiredRun, a.DesiredStatus)
		}
	}
	require.Len(t, placed, 6)
	for name, n := range placed {
		require.Equal(t, 1, n, "%s placed twice", name)
	}
}

// TestDrainMigratesOneAtATime drains a node holding every allocation of a
// group whose migrate block has max_parallel 1: a replacement must be
// healthy before the next allocation leaves, so three of four serve
// throughout.
func TestDrainMigratesOneAtATime(t *testing.T) {
	dir := t.TempDir()
	srv := harness.StartServer(t, drover.ServerOptions{DataDir: filepath.Join(dir, "server")})
	defer harness.Shutdown(t, srv)
	a := harness.StartClient(t, clientOptions(filepath.Join(dir, "a"), srv))
	defer harness.Shutdown(t, a)
	ctx := context.Background()
	job := rollingJob(t, 4, map[string]any{"run_for": "1h"}, &structs.UpdateStrategy{})
	job.Update = nil
	job.TaskGroups[0].Migrate = &structs.MigrateStrategy{MaxParallel: proto.Int32(1),
		HealthCheck: proto.String(structs.HealthCheckTaskStates), MinHealthyTime: durationpb.New(300 * time.Millisecond)}
	_, err := srv.RegisterJob(ctx, job)
	require.NoError(t, err)
	healthy := func() int {
		allocs, err := srv.Allocations(drover.AllowStale(ctx), "default", "web", "")
		require.NoError(t, err)
		n := 0
		for _, al := range allocs {
			if al.DesiredStatus == structs.AllocDesiredRun && al.ClientStatus == structs.AllocClientRunning && al.DeploymentStatus.IsHealthy() {
				n++
			}
		}
		return n
	}
	harness.WaitFor(t, srv, time.Minute, "four healthy allocations on the first node", func() bool { return healthy() == 4 })

	b := harness.StartClient(t, clientOptions(filepath.Join(dir, "b"), srv))
	defer harness.Shutdown(t, b)
	_, err = srv.UpdateNodeDrain(ctx, a.NodeID(), &drover.NodeDrain{Deadline: time.Hour}, false)
	require.NoError(t, err)
	least := 4
	harness.WaitFor(t, srv, 2*time.Minute, "the drain to complete", func() bool {
		least = min(least, healthy())
		n, err := srv.Node(ctx, a.NodeID())
		require.NoError(t, err)
		return n.DrainStrategy == nil
	})
	require.Equal(t, 3, least, "max_parallel 1: one allocation migrates at a time")
	allocs, err := srv.Allocations(ctx, "default", "web", "")
	require.NoError(t, err)
	for _, al := range allocs {
		if al.DesiredStatus == structs.AllocDesiredRun {
			require.Equal(t, b.NodeID(), al.NodeId)
		}
	}
}
