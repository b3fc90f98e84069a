package drover_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/internal/testing/testcluster"
)

// simNode is a simulated client: it registers and heartbeats through any
// running server on the TTL it is told, trying another server when one
// fails, as a client does.
func simNode(id string) *drover.Node {
	return &drover.Node{
		Id: id, SecretId: id + "-secret", Name: id, Datacenter: "dc1",
		Resources: &drover.Resources{CpuMhz: 1000, MemoryMb: 1000},
	}
}

func TestLeaderFailoverOnThreeServersMarksNoneOfAThousandNodesDown(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 simulated nodes through a failover")
	}
	regs := make([]*prometheus.Registry, 3)
	var mu sync.Mutex
	c := testcluster.New(t, testcluster.Options{Servers: 3, Server: func(i int, o *drover.ServerOptions) {
		mu.Lock()
		defer mu.Unlock()
		if i < len(regs) {
			regs[i] = prometheus.NewRegistry()
			o.Registerer = regs[i]
		}
		// TTLs of 2-4 s, so the test outlives several of them; the failover
		// TTL is left at its default (5m), the safe choice.
		o.Heartbeat.MinTTL, o.Heartbeat.Grace, o.Heartbeat.MaxPerSecond = 2*time.Second, time.Second, 10000
	}})
	c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const nodes = 1000
	pick := func() *drover.Server {
		for {
			r := c.Running()
			if len(r) > 0 {
				if s := r[rand.IntN(len(r))].Server(); s != nil {
					return s
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ids := make([]string, nodes)
	ttls := make([]time.Duration, nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("sim-%04d", i)
		resp, err := drover.ServerOf(pick()).RegisterNode(ctx, simNode(ids[i]))
		require.NoError(t, err)
		ttls[i] = time.Duration(resp.HeartbeatTtlMs) * time.Millisecond
	}
	beats := make([]atomic.Int64, nodes)
	simCtx, stopSim := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait := ttls[i] / 2
			for {
				tm := time.NewTimer(wait)
				select {
				case <-simCtx.Done():
					tm.Stop()
					return
				case <-tm.C:
				}
				hctx, hcancel := context.WithTimeout(simCtx, 2*time.Second)
				resp, err := drover.ServerOf(pick()).Heartbeat(hctx, ids[i], ids[i]+"-secret")
				hcancel()
				if err != nil {
					wait = 200 * time.Millisecond
					continue
				}
				beats[i].Add(1)
				wait = time.Duration(resp.HeartbeatTtlMs) * time.Millisecond / 2
			}
		}()
	}
	defer func() { stopSim(); wg.Wait() }()

	// Everyone heartbeats, then the leader dies (no leave).
	harness.Eventually(t, 60*time.Second, "every node to heartbeat", func() bool {
		for i := range beats {
			if beats[i].Load() == 0 {
				return false
			}
		}
		return true
	})
	old := c.WaitLeader(30 * time.Second)
	old.Stop()
	c.WaitLeader(30 * time.Second)
	before := make([]int64, nodes)
	for i := range beats {
		before[i] = beats[i].Load()
	}
	// Each node outlives several TTLs it was told before the election,
	// heartbeating through the survivors.
	harness.Eventually(t, 90*time.Second, "every node to heartbeat three times through the new leader", func() bool {
		for i := range beats {
			if beats[i].Load() < before[i]+3 {
				return false
			}
		}
		return true
	})
	for _, m := range c.Running() {
		require.Zero(t, counterValue(t, regs[m.Index], "drover_server_nodes_marked_down_total", nil), "%s marked nodes down", m.Name)
	}
	all, err := c.Running()[0].Server().Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, all, nodes)
	for _, n := range all {
		require.Equal(t, "ready", n.Status, n.Id)
	}
}
