package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/internal/testing/harness"
	"github.com/droverhq/drover/structs"
)

// beater heartbeats simulated nodes, each once a second, except those
// paused, and remembers each node's last heartbeat; it stops with its
// context.
type beater struct {
	rpc   structs.DroverClient
	nodes int
	mu    sync.Mutex
	pause map[string]bool
	last  map[string]beat
	done  chan struct{}
}

// beat is a heartbeat answered at a time with a TTL.
type beat struct {
	at  time.Time
	ttl time.Duration
}

func (h *beater) beaten() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.last)
}

func (h *beater) lastBeat(id string) beat {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last[id]
}

func (h *beater) paused(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pause[id]
}

func (h *beater) set(id string, paused bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pause[id] = paused
}

func (h *beater) run(ctx context.Context) {
	defer close(h.done)
	tk := time.NewTicker(time.Second / time.Duration(h.nodes))
	defer tk.Stop()
	for i := 0; ; i = (i + 1) % h.nodes {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		if id := nodeID(i); !h.paused(id) {
			resp, err := h.rpc.Heartbeat(ctx, &structs.NodeHeartbeatRequest{NodeId: id, SecretId: "secret-" + id})
			if err == nil {
				h.mu.Lock()
				h.last[id] = beat{at: time.Now(), ttl: time.Duration(resp.HeartbeatTtlMs) * time.Millisecond}
				h.mu.Unlock()
			}
		}
	}
}

// BenchmarkExpiryToReplacement measures, b.N times on one real server
// (raft over bbolt) with N heartbeating simulated nodes and a service job
// of 2N allocations spread over them, how long after a silenced node's
// TTL expires the plan placing the last of its allocations' replacements
// is committed. Commits are timed as the event stream delivers them (the
// broker publishes each applied entry at once); the expiry is the node's
// last heartbeat plus the TTL it was told plus the grace. Each run
// silences another node, which heartbeats again afterwards. It reports
// the median and slowest run from the commit marking the node down
// (median-ms, max-ms) and from the expiry (expiry-median-ms,
// expiry-max-ms).
func BenchmarkExpiryToReplacement(b *testing.B) {
	for _, nodes := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			srv := placementCluster(b, nodes, drover.ServerOptions{
				// TTLs of 2-4 s plus 1 s of grace whatever the cluster's size,
				// with heartbeats every second.
				Heartbeat:              drover.HeartbeatConfig{MinTTL: 2 * time.Second, Grace: time.Second, MaxPerSecond: 1e6},
				DefaultSchedulerConfig: &drover.SchedulerConfiguration{SchedulerAlgorithm: "spread"},
				EventBufferSize:        4096,
			})
			ctx, cancel := context.WithCancel(context.Background())
			h := &beater{rpc: harness.DialRPC(b, srv.Addr()), nodes: nodes, pause: map[string]bool{}, last: map[string]beat{}, done: make(chan struct{})}
			go h.run(ctx)
			defer func() { cancel(); <-h.done }()

			count := 2 * nodes
			resp, err := srv.RegisterJob(ctx, placementJob("spread", structs.JobTypeService, int32(count)))
			if err != nil {
				b.Fatal(err)
			}
			waitEval(b, srv, resp.EvalId)
			// A full round of heartbeats, so every node's expiry is known.
			for start := time.Now(); h.beaten() < nodes; time.Sleep(50 * time.Millisecond) {
				if time.Since(start) > time.Minute {
					b.Fatal("the simulated nodes do not heartbeat")
				}
			}
			var fromDown, fromExpiry []time.Duration
			for i := 0; b.Loop(); i++ {
				victim, onVictim := victimWithWork(b, srv, "spread", i, nodes)
				d, e := expiryToReplacement(b, srv, h, victim, onVictim, time.Second)
				fromDown, fromExpiry = append(fromDown, d), append(fromExpiry, e)
			}
			report := func(ds []time.Duration, prefix string) {
				slices.Sort(ds)
				b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, prefix+"median-ms")
				b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, prefix+"max-ms")
			}
			report(fromDown, "")
			report(fromExpiry, "expiry-")
		})
	}
}

// victimWithWork picks the first node from the i-th on that is ready and
// runs some of the job, and returns it with the ids of those allocations.
func victimWithWork(b *testing.B, srv *drover.Server, jobID string, i, nodes int) (string, map[string]bool) {
	b.Helper()
	allocs, err := srv.Allocations(context.Background(), "", jobID, "")
	if err != nil {
		b.Fatal(err)
	}
	for k := range nodes {
		id := nodeID((i + k) % nodes)
		on := map[string]bool{}
		for _, a := range allocs {
			if a.NodeId == id && a.DesiredStatus == structs.AllocDesiredRun && !a.ClientTerminal() {
				on[a.Id] = true
			}
		}
		if n, err := srv.Node(context.Background(), id); err == nil && n.Status == structs.NodeStatusReady && len(on) > 0 {
			return id, on
		}
	}
	b.Fatal("no ready node runs the job")
	return "", nil
}

// expiryToReplacement silences victim and returns the time from the event
// of its node going down, and from its TTL's expiry, to the event of its
// last replacement placed; then it lets the node heartbeat again and
// waits for it to be ready.
func expiryToReplacement(b *testing.B, srv *drover.Server, h *beater, victim string, onVictim map[string]bool,
	grace time.Duration) (fromDown, fromExpiry time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub, err := srv.Events(ctx, drover.EventRequest{
		Index:  srv.StateIndex() + 1,
		Topics: map[drover.EventTopic][]string{drover.TopicNode: {victim}, drover.TopicAllocation: {"spread"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	h.set(victim, true)
	var down, placed time.Time
	replaced := 0
	for replaced < len(onVictim) {
		batch, err := sub.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		at := time.Now()
		for _, ev := range batch.Events {
			switch p := ev.Payload.(type) {
			case *structs.Node:
				if p.Id == victim && p.Status == structs.NodeStatusDown && down.IsZero() {
					down = at
				}
			case *structs.Allocation:
				if onVictim[p.PreviousAllocation] && p.DesiredStatus == structs.AllocDesiredRun && p.CreateIndex == ev.Index {
					replaced++
					placed = at
				}
			}
		}
	}
	if down.IsZero() {
		b.Fatal("replacements placed before the node was seen down")
	}
	last := h.lastBeat(victim)
	expiry := last.at.Add(last.ttl + grace)
	h.set(victim, false)
	var index uint64
	for {
		n, err := srv.Node(ctx, victim)
		if err != nil {
			b.Fatal(err)
		}
		if n.Status == structs.NodeStatusReady {
			break
		}
		if index = srv.WaitForIndex(ctx, index); ctx.Err() != nil {
			b.Fatal("the node did not come back")
		}
	}
	return placed.Sub(down), placed.Sub(expiry)
}
