package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/testcluster"
)

// quietCluster is a 3-server cluster on TCP loopback with bbolt, with no
// scheduler workers: only raft and the state store do work.
func quietCluster(b *testing.B) *testcluster.Cluster {
	return testcluster.New(b, testcluster.Options{Servers: 3, Server: func(_ int, o *drover.ServerOptions) {
		o.NumSchedulers = drover.NoSchedulers
	}})
}

// BenchmarkRaftWrites measures acknowledged job registrations per second
// on a 3-server cluster (raft over TCP on 127.0.0.x, bbolt with fsync on
// every server) from W concurrent writers calling the leader. Concurrent
// proposals coalesce into shared Readies, so throughput grows with W.
func BenchmarkRaftWrites(b *testing.B) {
	for _, writers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			c := quietCluster(b)
			leader := c.WaitLeader(30 * time.Second).Server()
			raftWrites(b, context.Background(), leader, writers)
		})
	}
}

// raftWrites registers b.N jobs through leader from writers concurrent
// callers acting as the caller of ctx, and reports writes/s.
func raftWrites(b *testing.B, ctx context.Context, leader *drover.Server, writers int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				job := benchJob(1)
				job.Id = fmt.Sprintf("job-%d", i)
				if _, err := leader.RegisterJob(ctx, job); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkLeaderFailover measures, b.N times on one 3-server cluster with
// raft_multiplier 1, the time from killing the leader (no leave) to the
// first write acknowledged by the new one, and reports the median and the
// slowest run. The killed server is restarted between runs.
func BenchmarkLeaderFailover(b *testing.B) {
	c := quietCluster(b)
	c.WaitLeader(30 * time.Second)
	ctx := context.Background()
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		leader := c.WaitLeader(30 * time.Second)
		var survivor *drover.Server
		for _, m := range c.Running() {
			if m != leader {
				survivor = m.Server()
				break
			}
		}
		job := benchJob(1)
		job.Id = fmt.Sprintf("after-failover-%d", i)
		leader.Stop()
		start := time.Now()
		for {
			_, err := survivor.RegisterJob(ctx, job)
			if err == nil {
				break
			}
			if !errors.Is(err, drover.ErrNoLeader) && !errors.Is(err, drover.ErrLeadershipLost) {
				b.Fatal(err)
			}
		}
		took = append(took, time.Since(start))
		b.StopTimer()
		if err := leader.Start(); err != nil {
			b.Fatal(err)
		}
		c.WaitLeader(30 * time.Second)
		b.StartTimer()
	}
	slices.Sort(took)
	b.ReportMetric(took[len(took)/2].Seconds(), "median-s")
	b.ReportMetric(took[len(took)-1].Seconds(), "max-s")
}
