package raft

import (
	"math/rand/v2"
	"time"
)

// snapshotPolicy decides when a node takes a raft snapshot: when at least
// threshold entries were applied since the last one, checked once per
// interval with jitter, so the servers of a cluster do not all snapshot
// at once.
type snapshotPolicy struct {
	threshold uint64
	interval  time.Duration
	next      time.Time // the next check
}

// start schedules the first check.
func (p *snapshotPolicy) start(now time.Time) { p.next = now.Add(jitter(p.interval)) }

// due reports whether a snapshot should be taken now, with applied the
// last applied index and last the index of the latest raft snapshot. A
// check that finds the interval over schedules the next one.
func (p *snapshotPolicy) due(now time.Time, applied, last uint64) bool {
	if now.Before(p.next) {
		return false
	}
	p.next = now.Add(jitter(p.interval))
	return applied > last && applied-last >= p.threshold
}

// jitter returns a duration in [d, 2d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + rand.N(d)
}
