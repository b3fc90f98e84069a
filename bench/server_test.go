package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverhq/drover"
)

// BenchmarkRegisterJob measures job registrations committed by a real
// single server: raft over bbolt with fsync, many writers at once, so
// proposals batch into shared Ready cycles. ns/op is per registration.
func BenchmarkRegisterJob(b *testing.B) {
	srv, err := drover.NewServer(drover.ServerOptions{
		DataDir: b.TempDir(), BindAddr: "127.0.0.1:0", NumSchedulers: drover.NoSchedulers,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.WaitForLeader(ctx); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			job := benchJob(1)
			job.Id = fmt.Sprintf("job-%d", seq.Add(1))
			if _, err := srv.RegisterJob(context.Background(), job); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
