package server

import (
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/droverhq/drover/heartbeat"
)

// BenchmarkTTLTracker measures the leader's per-node heartbeat state: the
// memory each tracked node costs and the time of one heartbeat's reset.
func BenchmarkTTLTracker(b *testing.B) {
	const nodes = 100_000
	ids := make([]string, nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-0000-0000-0000-000000000000", i)
	}
	cfg := heartbeat.DefaultConfig()
	cfg.FailoverTTL = time.Hour

	b.Run("memory/nodes=100000", func(b *testing.B) {
		var perNode float64
		for range b.N {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			tr := newTTLTracker(cfg, false, nil, slog.New(slog.DiscardHandler), func(string) {})
			tr.enable(nil)
			for _, id := range ids {
				tr.reset(id)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			perNode = float64(after.HeapAlloc-before.HeapAlloc) / nodes
			tr.disable()
		}
		b.ReportMetric(perNode, "B/node")
	})

	b.Run("reset/nodes=100000", func(b *testing.B) {
		tr := newTTLTracker(cfg, false, nil, slog.New(slog.DiscardHandler), func(string) {})
		tr.enable(nil)
		defer tr.disable()
		for _, id := range ids {
			tr.reset(id)
		}
		b.ResetTimer()
		for i := range b.N {
			tr.reset(ids[i%nodes])
		}
	})
}
