package server

import (
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/heartbeat"
)

// ttlTracker keeps one deadline per node on the leader. A heartbeat resets
// the node's timer in memory; when a timer fires, onExpire marks the node
// down through raft. Timers are the clock's timers, not goroutines.
type ttlTracker struct {
	cfg      heartbeat.Config
	pinned   bool // the operator set the failover TTL explicitly
	clock    clock.Clock
	logger   *slog.Logger
	onExpire func(nodeID string)

	mu      sync.Mutex
	enabled bool
	timers  map[string]clock.Timer
	// early holds the deadlines of nodes that heartbeated to this leader
	// before its services were enabled: they get their own TTL, not the
	// failover one, since they already know this leader.
	early map[string]time.Time
	rng   *rand.Rand
}

func newTTLTracker(cfg heartbeat.Config, pinned bool, c clock.Clock, logger *slog.Logger, onExpire func(string)) *ttlTracker {
	return &ttlTracker{
		cfg: cfg, pinned: pinned, clock: clock.Or(c), logger: logger, onExpire: onExpire,
		timers: map[string]clock.Timer{}, early: map[string]time.Time{},
		rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// reset gives a node a fresh client TTL, returning the TTL the client is told.
func (t *ttlTracker) reset(nodeID string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.timers)
	if _, ok := t.timers[nodeID]; !ok {
		n++
	}
	ttl := t.cfg.ClientTTL(n, t.rng)
	if t.enabled {
		t.setLocked(nodeID, t.cfg.ServerTTL(ttl))
	} else {
		t.early[nodeID] = t.clock.Now().Add(t.cfg.ServerTTL(ttl))
	}
	return ttl
}

func (t *ttlTracker) setLocked(nodeID string, d time.Duration) {
	if old := t.timers[nodeID]; old != nil {
		old.Reset(d)
		return
	}
	t.timers[nodeID] = t.clock.AfterFunc(d, func() { t.expire(nodeID) })
}

func (t *ttlTracker) expire(nodeID string) {
	t.mu.Lock()
	if !t.enabled || t.timers[nodeID] == nil {
		t.mu.Unlock()
		return
	}
	delete(t.timers, nodeID)
	t.mu.Unlock()
	t.onExpire(nodeID)
}

// enable starts tracking after an election: every live node gets the
// failover TTL, raised to a safe value for the cluster size unless pinned.
func (t *ttlTracker) enable(liveNodes []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.enabled = true
	failover := t.cfg.FailoverTTL
	if !t.cfg.FailoverSafe(len(liveNodes)) {
		if t.pinned {
			t.logger.Warn("failover heartbeat TTL is shorter than the longest client TTL; live clients may be marked down after this election",
				"failover_ttl", failover, "max_client_ttl", t.cfg.MaxClientTTL(len(liveNodes)), "nodes", len(liveNodes))
		} else {
			failover = t.cfg.SafeFailoverTTL(len(liveNodes))
			t.logger.Warn("raising failover heartbeat TTL for the cluster size",
				"configured", t.cfg.FailoverTTL, "using", failover, "nodes", len(liveNodes))
		}
	}
	now := t.clock.Now()
	for _, id := range liveNodes {
		if deadline, ok := t.early[id]; ok {
			t.setLocked(id, max(deadline.Sub(now), 0))
			continue
		}
		t.setLocked(id, failover)
	}
	clear(t.early)
}

// armIdle arms a node's timer to fire after d, unless the node has one:
// a disconnected node's next window end, which a heartbeat (that armed a
// TTL meanwhile) overrides.
func (t *ttlTracker) armIdle(nodeID string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.enabled && t.timers[nodeID] == nil {
		t.setLocked(nodeID, max(d, 0))
	}
}

// disable stops every timer (leadership lost or shutdown).
func (t *ttlTracker) disable() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.enabled = false
	clear(t.early)
	for id, tm := range t.timers {
		tm.Stop()
		delete(t.timers, id)
	}
}
