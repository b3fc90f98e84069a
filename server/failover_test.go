package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/heartbeat"
)

// simulateNodes heartbeats every node on the TTL the server last told it,
// retrying every 50ms while no server answers (as a client does), until ctx
// is done. beats counts the heartbeats each node got through.
func simulateNodes(ctx context.Context, srv func() *Server, ids []string, ttls map[string]time.Duration, beats *sync.Map) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait := ttls[id]
			for {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				resp, err := srv().Heartbeat(ctx, id, id+"-secret")
				if err != nil {
					wait = 50 * time.Millisecond
					continue
				}
				wait = time.Duration(resp.HeartbeatTtlMs) * time.Millisecond
				n, _ := beats.LoadOrStore(id, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		}()
	}
	return &wg
}

// failoverRun registers 1,000 nodes, restarts the server (a new leader is
// elected on the same state) while the nodes keep heartbeating, and returns
// how many times the new leader marked a node down.
func failoverRun(t *testing.T, failover time.Duration, pinned bool) int {
	const nodes = 1000
	// TTLs and grace of a second, not less: on a loaded machine (the race
	// detector, two cores) a heartbeat may be late by a few hundred
	// milliseconds, and only the failover TTL is under test.
	hb := heartbeat.Config{MinTTL: time.Second, Grace: time.Second, FailoverTTL: failover, MaxPerSecond: 100000}
	cfg := Config{
		Name: "s1", DataDir: t.TempDir(), BindAddr: "127.0.0.1:0", NumSchedulers: 1,
		EnabledSchedulers: []string{"service"}, Heartbeat: hb, FailoverTTLPinned: pinned,

		JobDefaultPriority: 50, JobMaxPriority: 100, Logger: testLogger(),
	}
	s, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, s.WaitForLeader(ctx))

	var mu sync.Mutex
	current := s
	get := func() *Server { mu.Lock(); defer mu.Unlock(); return current }
	ids := make([]string, nodes)
	ttls := map[string]time.Duration{}
	for i := range ids {
		ids[i] = fmt.Sprintf("node-%04d", i)
		resp, err := s.RegisterNode(ctx, mockNode(ids[i]))
		require.NoError(t, err)
		ttls[ids[i]] = time.Duration(resp.HeartbeatTtlMs) * time.Millisecond
	}
	var beats sync.Map
	simCtx, stopSim := context.WithCancel(ctx)
	wg := simulateNodes(simCtx, get, ids, ttls, &beats)
	defer func() { stopSim(); wg.Wait() }()

	count := func(id string) int64 {
		if n, ok := beats.Load(id); ok {
			return n.(*atomic.Int64).Load()
		}
		return 0
	}
	// The election: the old leader stops, a new one starts on its state.
	require.NoError(t, s.Shutdown(ctx))
	before := map[string]int64{}
	for _, id := range ids {
		before[id] = count(id)
	}
	s2, err := New(cfg)
	require.NoError(t, err)
	defer s2.Shutdown(context.Background())
	mu.Lock()
	current = s2
	mu.Unlock()
	require.NoError(t, s2.WaitForLeader(ctx))

	// Every node gets two heartbeats through the new leader: by then each
	// has outlived the TTL it was told before the election.
	require.Eventually(t, func() bool {
		for _, id := range ids {
			if count(id) < before[id]+2 {
				return false
			}
		}
		return true
	}, 45*time.Second, 20*time.Millisecond)
	// Nodes marked down may have come back since; the counter remembers.
	var m dto.Metric
	require.NoError(t, s2.metrics.nodesDown.Write(&m))
	return int(m.GetCounter().GetValue())
}

func TestLeaderFailoverMarksNoLiveNodeDown(t *testing.T) {
	// A failover TTL far below the client TTLs, not pinned by the operator:
	// the new leader raises it to the safe value.
	require.Zero(t, failoverRun(t, 10*time.Millisecond, false))
}

func TestPinnedUnsafeFailoverTTLIsHonoured(t *testing.T) {
	// The same TTL set explicitly by the operator is used as given (with a
	// warning): live nodes are then marked down, which is what the safe
	// value above prevents.
	require.Positive(t, failoverRun(t, 10*time.Millisecond, true))
}
