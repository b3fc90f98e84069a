package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors, registered on the host's
// Registerer (never the global one); with no Registerer they are kept but
// not exported.
type metrics struct {
	leader         prometheus.Gauge
	jobsRegistered prometheus.Counter
	heartbeats     prometheus.Counter
	nodesDown      prometheus.Counter
	plansApplied   prometheus.Counter
	// planNodesRefused counts nodes the plan applier refused.
	planNodesRefused prometheus.Counter
	gcReaped         *prometheus.CounterVec
	// snapshots counts raft snapshots by event: taken (written locally),
	// sent (streamed to a follower), installed (received from the leader).
	snapshots     *prometheus.CounterVec
	snapshotIndex prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "drover", Subsystem: "server", Name: name, Help: help})
	}
	m := &metrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "drover", Subsystem: "server", Name: "is_leader",
			Help: "1 while this server leads the cluster.",
		}),
		jobsRegistered: counter("jobs_registered_total", "Job registrations committed by this server as leader."),
		heartbeats:     counter("heartbeats_total", "Client heartbeats processed by this server as leader."),
		nodesDown:      counter("nodes_marked_down_total", "Nodes marked down after missing their heartbeat TTL."),
		plansApplied:   counter("plans_applied_total", "Scheduler plans committed by the plan applier."),
		planNodesRefused: counter("plan_nodes_refused_total",
			"Nodes the plan applier refused because they no longer took the plan's placements."),
		gcReaped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "drover", Subsystem: "server", Name: "gc_reaped_total",
			Help: "Objects removed by garbage collection, by kind (node, job, eval, alloc).",
		}, []string{"kind"}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "drover", Subsystem: "raft", Name: "snapshots_total",
			Help: "Raft snapshots by event: taken (written by this server), sent (streamed to a follower), installed (received from the leader).",
		}, []string{"event"}),
		snapshotIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "drover", Subsystem: "raft", Name: "snapshot_index",
			Help: "Raft index of this server's latest snapshot.",
		}),
	}
	for _, ev := range []string{"taken", "sent", "installed"} {
		m.snapshots.WithLabelValues(ev)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.leader, m.jobsRegistered, m.heartbeats, m.nodesDown, m.plansApplied,
		m.planNodesRefused, m.gcReaped, m.snapshots, m.snapshotIndex} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
