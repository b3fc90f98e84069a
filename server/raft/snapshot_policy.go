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

// SnapshotSettings are the snapshot settings a running node can change
// (a configuration reload): how many applied entries make a snapshot due,
// how often that is checked, and how many entries stay in the log after
// one.
type SnapshotSettings struct {
	Threshold    uint64
	Interval     time.Duration
	TrailingLogs uint64
}

// SnapshotSettings returns the settings in force: those last set, or the
// configured ones.
func (rn *Node) SnapshotSettings() SnapshotSettings {
	if s := rn.settings.Load(); s != nil {
		return *s
	}
	return SnapshotSettings{Threshold: rn.cfg.SnapshotThreshold, Interval: rn.cfg.SnapshotInterval, TrailingLogs: rn.cfg.TrailingLogs}
}

// SetSnapshotSettings changes the snapshot settings from the next check
// on; a zero field keeps its setting. It is safe to call from any
// goroutine.
func (rn *Node) SetSnapshotSettings(s SnapshotSettings) {
	cur := rn.SnapshotSettings()
	if s.Threshold > 0 {
		cur.Threshold = s.Threshold
	}
	if s.Interval > 0 {
		cur.Interval = s.Interval
	}
	if s.TrailingLogs > 0 {
		cur.TrailingLogs = s.TrailingLogs
	}
	rn.settings.Store(&cur)
}
