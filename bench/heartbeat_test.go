package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// BenchmarkHeartbeats measures heartbeats processed by the leader over the
// real RPC path (gRPC on TCP loopback) from many simulated clients sharing
// a few connections. It reports heartbeats/s.
func BenchmarkHeartbeats(b *testing.B) {
	for _, nodes := range []int{10000} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			srv, err := drover.NewServer(drover.ServerOptions{
				DataDir: b.TempDir(), BindAddr: "127.0.0.1:0", NumSchedulers: drover.NoSchedulers,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Shutdown(context.Background())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := srv.WaitForLeader(ctx); err != nil {
				b.Fatal(err)
			}
			conns := make([]structs.DroverClient, 8)
			for i := range conns {
				conns[i] = harness.DialRPC(b, srv.Addr())
			}
			heartbeats(b, ctx, conns, nodes)
		})
	}
}

// heartbeats registers nodes simulated nodes through conns, then sends
// b.N heartbeats from 16 goroutines per CPU, and reports heartbeats/s.
func heartbeats(b *testing.B, ctx context.Context, conns []structs.DroverClient, nodes int) {
	// Register every simulated node (raft writes, many at once).
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range nodes {
		g.Go(func() error {
			_, err := conns[i%len(conns)].RegisterNode(gctx, &structs.NodeRegisterRequest{Node: simNode(i)})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var once sync.Once
	b.SetParallelism(16)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)) % nodes
			_, err := conns[i%len(conns)].Heartbeat(context.Background(), &structs.NodeHeartbeatRequest{
				NodeId: nodeID(i), SecretId: "secret-" + nodeID(i),
			})
			if err != nil {
				once.Do(func() { b.Error(err) })
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "heartbeats/s")
}

func nodeID(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", i) }

func simNode(i int) *structs.Node {
	return &structs.Node{
		Id: nodeID(i), SecretId: "secret-" + nodeID(i), Name: fmt.Sprintf("sim-%d", i), Datacenter: "dc1",
		Resources:  &structs.Resources{CpuMhz: 4000, MemoryMb: 8192},
		Attributes: map[string]string{"kernel.name": "linux"},
		Meta:       map[string]string{"rack": fmt.Sprintf("r%d", i%4)},
		Drivers:    map[string]*structs.DriverInfo{"mock": {Detected: true, Healthy: true}},
	}
}
