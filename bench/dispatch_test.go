package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/testcluster"
	"github.com/droverhq/drover/structs"
)

// BenchmarkDispatch measures acknowledged dispatches of a parameterized
// job per second, each a raft entry creating a child job and its
// evaluation, through one server and through three (raft over TCP on
// 127.0.0.x, bbolt with fsync), from 64 concurrent callers of the
// leader. No schedulers run: this is the dispatch write path alone.
func BenchmarkDispatch(b *testing.B) {
	for _, servers := range []int{1, 3} {
		b.Run(fmt.Sprintf("servers=%d", servers), func(b *testing.B) {
			c := testcluster.New(b, testcluster.Options{Servers: servers, Server: func(_ int, o *drover.ServerOptions) {
				o.NumSchedulers = drover.NoSchedulers
			}})
			leader := c.WaitLeader(30 * time.Second).Server()
			ctx := context.Background()
			job := benchJob(1)
			job.Type = structs.JobTypeBatch
			job.Parameterized = &drover.ParameterizedJobConfig{MetaRequired: []string{"n"}}
			job.TaskGroups[0].Tasks[0].DispatchPayload = &drover.DispatchPayloadConfig{File: "in"}
			if _, err := leader.RegisterJob(ctx, job); err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 1024)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if _, err := leader.DispatchJob(ctx, drover.Dispatch{JobID: job.Id, Payload: payload,
							Meta: map[string]string{"n": fmt.Sprint(i)}}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "dispatches/s")
		})
	}
}
