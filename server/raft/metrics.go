package raft

import "github.com/prometheus/client_golang/prometheus"

// Metrics are a node's Prometheus collectors. NewMetrics makes
// them; the server registers Collectors on the host's registry.
type Metrics struct {
	// snapshots counts raft snapshots by event: taken (written locally),
	// sent (streamed to a follower), installed (received from the leader).
	snapshots     *prometheus.CounterVec
	snapshotIndex prometheus.Gauge
	commitTime    prometheus.Histogram
	leaderChanges prometheus.Counter
	// appliedEntries and appliedBytes count the log entries applied on
	// this server and the size of their data.
	appliedEntries prometheus.Counter
	appliedBytes   prometheus.Counter
}

// NewMetrics returns a node's collectors, not registered anywhere.
func NewMetrics() *Metrics {
	m := &Metrics{
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "drover", Subsystem: "raft", Name: "snapshots_total",
			Help: "Raft snapshots by event: taken (written by this server), sent (streamed to a follower), installed (received from the leader).",
		}, []string{"event"}),
		snapshotIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "drover", Subsystem: "raft", Name: "snapshot_index",
			Help: "Raft index of this server's latest snapshot.",
		}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "drover", Subsystem: "raft", Name: "commit_seconds",
			Help:    "Time from proposing a raft entry to having it applied on this server.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "drover", Subsystem: "raft", Name: "leader_changes_total",
			Help: "Times this server saw the cluster leader change (a new leader, or none).",
		}),
		appliedEntries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "drover", Subsystem: "raft", Name: "applied_entries_total",
			Help: "Raft log entries applied on this server.",
		}),
		appliedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "drover", Subsystem: "raft", Name: "applied_bytes_total",
			Help: "Bytes of data in the raft log entries applied on this server.",
		}),
	}
	for _, ev := range []string{"taken", "sent", "installed"} {
		m.snapshots.WithLabelValues(ev)
	}
	return m
}

// Collectors returns the collectors to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.commitTime, m.leaderChanges, m.snapshots, m.snapshotIndex, m.appliedEntries, m.appliedBytes}
}
