package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// simClients stands in for the clients of the simulated nodes until ctx
// ends: on every change of the state it reports the job's new allocations
// running (and, in a deployment, healthy at once) and its stopped ones
// complete, one UpdateAllocations call per node, as clients batch them,
// the nodes' calls concurrent as the clients' are.
func simClients(ctx context.Context, b *testing.B, srv *drover.Server, jobID string) {
	rpc := harness.DialRPC(b, srv.Addr())
	var index uint64
	for ctx.Err() == nil {
		allocs, err := srv.Allocations(drover.AllowStale(ctx), "default", jobID, "")
		if err != nil {
			if ctx.Err() == nil {
				b.Error(err)
			}
			return
		}
		byNode := map[string][]*structs.Allocation{}
		for _, a := range allocs {
			var upd *structs.Allocation
			switch {
			case a.ClientTerminal():
			case a.DesiredStatus != structs.AllocDesiredRun:
				upd = &structs.Allocation{Id: a.Id, ClientStatus: structs.AllocClientComplete}
			case a.DeploymentId != "" && !a.DeploymentStatus.HasHealth():
				upd = &structs.Allocation{Id: a.Id, ClientStatus: structs.AllocClientRunning, DeploymentId: a.DeploymentId,
					DeploymentStatus: &structs.AllocDeploymentStatus{Healthy: proto.Bool(true), Timestamp: time.Now().UnixNano()}}
			case a.ClientStatus == structs.AllocClientPending:
				upd = &structs.Allocation{Id: a.Id, ClientStatus: structs.AllocClientRunning}
			}
			if upd != nil {
				byNode[a.NodeId] = append(byNode[a.NodeId], upd)
			}
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(64)
		for node, list := range byNode {
			g.Go(func() error {
				_, err := rpc.UpdateAllocations(gctx, &structs.AllocUpdateRequest{NodeId: node, SecretId: "secret-" + node, Allocations: list})
				return err
			})
		}
		if err := g.Wait(); err != nil && ctx.Err() == nil {
			b.Error(err)
			return
		}
		index = srv.WaitForIndex(ctx, index)
	}
}

// counterValue reads a counter of the registry, or 0.
func counterValue(b *testing.B, g prometheus.Gatherer, name string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// waitDeployment waits until the job's version has a successful deployment.
func waitDeployment(b *testing.B, srv *drover.Server, jobID string, version uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var index uint64
	for {
		d, err := srv.LatestDeployment(ctx, "default", jobID)
		if err != nil {
			b.Fatal(err)
		}
		if d != nil && d.JobVersion == version {
			switch d.Status {
			case structs.DeploymentStatusSuccessful:
				return
			case structs.DeploymentStatusFailed, structs.DeploymentStatusCancelled:
				b.Fatalf("deployment of version %d: %s (%s)", version, d.Status, d.StatusDescription)
			}
		}
		if index = srv.WaitForIndex(ctx, index); ctx.Err() != nil {
			b.Fatalf("version %d was not rolled out", version)
		}
	}
}

// BenchmarkRollingUpdate measures, on a real server with 100 simulated
// nodes, a new version of a 1,000-allocation service job rolled out 50 at
// a time: from its registration to its deployment successful. The
// simulated clients report every new allocation healthy at once, so the
// time is the servers' own: 20 rounds of watcher, evaluation, scheduling
// pass and plan, and the raft writes of the reports. It reports the
// deployment watcher's decision time per allocation rolled out.
func BenchmarkRollingUpdate(b *testing.B) {
	const count, maxParallel = 1000, 50
	reg := prometheus.NewRegistry()
	srv := placementCluster(b, 100, drover.ServerOptions{Registerer: reg, Heartbeat: drover.HeartbeatConfig{MinTTL: time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		simClients(ctx, b, srv, "roll")
	}()
	defer func() {
		cancel()
		<-done
	}()
	version := func(i int) *structs.Job {
		j := placementJob("roll", structs.JobTypeService, count)
		j.TaskGroups[0].Tasks[0].Env = map[string]string{"VERSION": fmt.Sprint(i)}
		j.Update = &structs.UpdateStrategy{MaxParallel: proto.Int32(maxParallel)}
		return j
	}
	if _, err := srv.RegisterJob(context.Background(), version(0)); err != nil {
		b.Fatal(err)
	}
	waitDeployment(b, srv, "roll", 0)
	watcher := counterValue(b, reg, "drover_server_deployment_watcher_seconds_total")
	passes := counterValue(b, reg, "drover_server_deployment_watcher_passes_total")
	var rolled time.Duration
	n := 0
	for i := 1; b.Loop(); i++ {
		start := time.Now()
		if _, err := srv.RegisterJob(context.Background(), version(i)); err != nil {
			b.Fatal(err)
		}
		waitDeployment(b, srv, "roll", uint64(i))
		rolled += time.Since(start)
		n++
	}
	watcher = counterValue(b, reg, "drover_server_deployment_watcher_seconds_total") - watcher
	passes = counterValue(b, reg, "drover_server_deployment_watcher_passes_total") - passes
	b.ReportMetric(rolled.Seconds()/float64(n), "s/rollout")
	b.ReportMetric(watcher*1e6/float64(n*count), "watcher-µs/alloc")
	b.ReportMetric(passes/float64(n), "watcher-passes/rollout")
}
