package server

import (
	"sync"
	"time"
)

// rejectionTracker counts, per node, the plans that refused it within a
// sliding window; a node reaching the threshold is reported once (and its
// count starts again), so the leader can mark it ineligible.
type rejectionTracker struct {
	threshold int
	window    time.Duration
	now       func() time.Time

	mu   sync.Mutex
	hist map[string][]time.Time
}

func newRejectionTracker(threshold int, window time.Duration, now func() time.Time) *rejectionTracker {
	return &rejectionTracker{threshold: threshold, window: window, now: now, hist: map[string][]time.Time{}}
}

// add records one refusal of node and reports whether it reached the threshold.
func (t *rejectionTracker) add(node string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	h := t.hist[node]
	cut := 0
	for cut < len(h) && now.Sub(h[cut]) > t.window {
		cut++
	}
	h = append(h[cut:], now)
	if len(h) >= t.threshold {
		delete(t.hist, node)
		return true
	}
	t.hist[node] = h
	return false
}
