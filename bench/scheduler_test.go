package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// placementCluster starts a real server (raft over bbolt) with m simulated
// ready nodes of 4,000 MHz / 8,192 MB registered over RPC, as clients do.
func placementCluster(b *testing.B, m int, opts drover.ServerOptions) *drover.Server {
	b.Helper()
	opts.DataDir, opts.BindAddr = b.TempDir(), "127.0.0.1:0"
	srv, err := drover.NewServer(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := srv.WaitForLeader(ctx); err != nil {
		b.Fatal(err)
	}
	rpc := harness.DialRPC(b, srv.Addr())
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range m {
		g.Go(func() error {
			_, err := rpc.RegisterNode(gctx, &structs.NodeRegisterRequest{Node: simNode(i)})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return srv
}

func placementJob(id, jobType string, count int32) *structs.Job {
	j := benchJob(count)
	j.Id, j.Type = id, jobType
	return j
}

// runServerPlacement registers the job, waits until its evaluation is
// complete with every placement committed, then stops and purges it
// (untimed) so the next iteration finds the cluster empty again.
func runServerPlacement(b *testing.B, srv *drover.Server, mk func(i int) *structs.Job, want int) {
	ctx := context.Background()
	var placed time.Duration
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; b.Loop(); i++ {
		job := mk(i)
		start := time.Now()
		resp, err := srv.RegisterJob(ctx, job)
		if err != nil {
			b.Fatal(err)
		}
		waitEval(b, srv, resp.EvalId)
		placed += time.Since(start)
		b.StopTimer()
		if n := liveAllocs(b, srv, job.Id); n != want {
			b.Fatalf("placed %d of %d", n, want)
		}
		dr, err := srv.DeregisterJob(ctx, "", job.Id, true)
		if err != nil {
			b.Fatal(err)
		}
		waitEval(b, srv, dr.EvalId)
		b.StartTimer()
	}
	runtime.ReadMemStats(&after)
	// Memory is counted over the whole loop, cleanup included: an upper bound.
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*want), "allocs/placement")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N*want), "B/placement")
	perPlacement := placed.Seconds() / float64(b.N*want)
	b.ReportMetric(1/perPlacement, "placements/s")
	b.ReportMetric(perPlacement*1e9, "ns/placement")
}

func waitEval(b *testing.B, srv *drover.Server, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var index uint64
	for {
		e, err := srv.Evaluation(ctx, id)
		if err == nil && e.TerminalStatus() {
			if e.Status != structs.EvalStatusComplete || len(e.FailedTgAllocs) > 0 {
				b.Fatalf("evaluation %s: %s %s %v", id, e.Status, e.StatusDescription, e.FailedTgAllocs)
			}
			return
		}
		if index = srv.WaitForIndex(ctx, index); ctx.Err() != nil {
			b.Fatalf("evaluation %s did not complete", id)
		}
	}
}

func liveAllocs(b *testing.B, srv *drover.Server, jobID string) int {
	allocs, err := srv.Allocations(context.Background(), "", jobID, "")
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, a := range allocs {
		if a.DesiredStatus == structs.AllocDesiredRun {
			n++
		}
	}
	return n
}

// BenchmarkServicePlacement measures, on a real server, the time from
// registering a service job of count N (100 MHz / 128 MB per task) on M
// nodes to its evaluation complete: raft commit of the job, the broker,
// a worker's scheduling pass, the plan applier's checks and the raft
// commit of the plan.
func BenchmarkServicePlacement(b *testing.B) {
	for _, shape := range []struct{ m, n int }{{100, 1000}, {1000, 10000}, {5000, 50000}} {
		b.Run(fmt.Sprintf("nodes=%d,count=%d", shape.m, shape.n), func(b *testing.B) {
			srv := placementCluster(b, shape.m, drover.ServerOptions{})
			runServerPlacement(b, srv, func(i int) *structs.Job {
				return placementJob(fmt.Sprintf("svc-%d", i), structs.JobTypeService, int32(shape.n))
			}, shape.n)
		})
	}
}

// BenchmarkSystemPlacement is the same for a system job on 5,000 nodes.
func BenchmarkSystemPlacement(b *testing.B) {
	b.Run("nodes=5000", func(b *testing.B) {
		srv := placementCluster(b, 5000, drover.ServerOptions{})
		runServerPlacement(b, srv, func(i int) *structs.Job {
			return placementJob(fmt.Sprintf("sys-%d", i), structs.JobTypeSystem, 1)
		}, 5000)
	})
}

// BenchmarkSpreadPlacement is the middle shape with a spread block over
// the nodes' racks and an affinity, under the spread algorithm.
func BenchmarkSpreadPlacement(b *testing.B) {
	b.Run("nodes=1000,count=10000", func(b *testing.B) {
		srv := placementCluster(b, 1000, drover.ServerOptions{
			DefaultSchedulerConfig: &drover.SchedulerConfiguration{SchedulerAlgorithm: "spread"},
		})
		runServerPlacement(b, srv, func(i int) *structs.Job {
			j := placementJob(fmt.Sprintf("spread-%d", i), structs.JobTypeService, 10000)
			j.TaskGroups[0].Spreads = []*structs.Spread{{Attribute: "${meta.rack}", Weight: 50}}
			j.TaskGroups[0].Affinities = []*structs.Affinity{{LTarget: "${meta.rack}", Operand: "=", RTarget: "r1", Weight: 30}}
			return j
		}, 10000)
	})
}

// benchJob is a service job of one group of count tasks of 100 MHz / 128 MB
// with one attribute constraint.
func benchJob(count int32) *structs.Job {
	return &structs.Job{
		Id: "bench", TaskGroups: []*structs.TaskGroup{{
			Name: "g", Count: count,
			Constraints: []*structs.Constraint{{LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "linux"}},
			Tasks:       []*structs.Task{{Name: "t", Driver: "mock", Resources: &structs.Resources{CpuMhz: 100, MemoryMb: 128}}},
		}},
	}
}
