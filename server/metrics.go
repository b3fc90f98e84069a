package server

import (
	"time"

	"github.com/droverhq/drover/server/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors, registered on the host's
// Registerer (never the global one); with no Registerer they are kept but
// not exported.
type metrics struct {
	// reg and registered are what unregister takes back off the host's
	// registry, so a server started again on it registers anew.
	reg        prometheus.Registerer
	registered []prometheus.Collector

	leader         prometheus.Gauge
	jobsRegistered prometheus.Counter
	heartbeats     prometheus.Counter
	nodesDown      prometheus.Counter
	plansApplied   prometheus.Counter
	gcReaped       *prometheus.CounterVec
	// raft are the raft node's own collectors.
	raft *raft.Metrics
	// gossipMembers counts the servers of the gossip pool by status.
	gossipMembers *prometheus.GaugeVec

	// plans and scheduling
	plansRejected     prometheus.Counter
	planNodesRejected prometheus.Counter
	placements        prometheus.Counter
	evalLatency       *prometheus.HistogramVec
	// heartbeats
	heartbeatsExpired prometheus.Counter
	// nodesDisconnected counts nodes marked disconnected (allocations with
	// a disconnect window wait for them) after missing their TTL.
	nodesDisconnected prometheus.Counter
	// security
	refusedPeers prometheus.Counter
	refusedConns prometheus.Counter
	aclDenied    prometheus.Counter
	// deployments: the leader's watcher's decision time (raft waits
	// excluded) and passes.
	watcherSeconds prometheus.Counter
	watcherPasses  prometheus.Counter
}

// gauges reads the live values the gauge functions report. Its fields are
// nil until the server is fully built; the functions then report 0.
type gauges interface {
	appliedIndex() float64
	brokerStats() (ready, unacked, blocked float64)
	activeHeartbeatTimers() float64
}

func newMetrics(reg prometheus.Registerer, g gauges) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "drover", Subsystem: "server", Name: name, Help: help})
	}
	gaugeFunc := func(subsystem, name, help string, f func() float64) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "drover", Subsystem: subsystem, Name: name, Help: help}, f)
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
		gcReaped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "drover", Subsystem: "server", Name: "gc_reaped_total",
			Help: "Objects removed by garbage collection, by kind (node, job, eval, alloc).",
		}, []string{"kind"}),
		raft: raft.NewMetrics(),
		gossipMembers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "drover", Subsystem: "serf", Name: "members",
			Help: "Servers of the gossip pool by status (alive, leaving, left, failed), of every region.",
		}, []string{"status"}),
		plansRejected:     counter("plans_rejected_total", "Plans of which the plan applier refused at least one node."),
		planNodesRejected: counter("plan_nodes_rejected_total", "Nodes refused by the plan applier because they changed under a plan."),
		placements: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "drover", Subsystem: "scheduler", Name: "placements_total",
			Help: "Allocations placed or updated by committed plans.",
		}),
		evalLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "drover", Subsystem: "scheduler", Name: "eval_seconds",
			Help: "Time a worker spent processing one evaluation, by scheduler type and worker " +
				"(leader: the leader's own workers; follower: this server's while another leads).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"type", "worker"}),
		heartbeatsExpired: counter("heartbeats_expired_total", "Heartbeat TTL timers that expired on the leader."),
		nodesDisconnected: counter("nodes_marked_disconnected_total",
			"Nodes marked disconnected after missing their heartbeat TTL while allocations with max_client_disconnect wait for them."),
		refusedPeers: counter("rpc_peers_refused_total", "RPCs refused because the peer's certificate does not fit the role or region the call needs."),
		refusedConns: counter("rpc_conns_refused_total", "RPC connections closed at once because their client already had rpc_max_conns_per_client open."),
		aclDenied:    counter("acl_denied_total", "Calls refused by an ACL check or an unknown or expired token."),
		watcherSeconds: counter("deployment_watcher_seconds_total",
			"Time the leader's deployment watcher spent deciding, waits for raft excluded."),
		watcherPasses: counter("deployment_watcher_passes_total", "Passes of the leader's deployment watcher over the active deployments."),
	}
	if reg == nil {
		return m, nil
	}
	brokerGauge := func(pick func(r, u, b float64) float64) func() float64 {
		return func() float64 { return pick(g.brokerStats()) }
	}
	for _, c := range append(m.raft.Collectors(),
		m.leader, m.jobsRegistered, m.heartbeats, m.nodesDown, m.plansApplied, m.gcReaped,
		m.plansRejected, m.planNodesRejected, m.placements, m.evalLatency, m.heartbeatsExpired,
		m.nodesDisconnected, m.refusedPeers, m.refusedConns, m.aclDenied, m.watcherSeconds, m.watcherPasses, m.gossipMembers,
		gaugeFunc("raft", "applied_index", "Index of the last raft entry applied on this server.", g.appliedIndex),
		gaugeFunc("server", "broker_ready_evals", "Evaluations ready in the leader's broker.",
			brokerGauge(func(r, _, _ float64) float64 { return r })),
		gaugeFunc("server", "broker_unacked_evals", "Evaluations handed to workers and not yet acknowledged.",
			brokerGauge(func(_, u, _ float64) float64 { return u })),
		gaugeFunc("server", "broker_blocked_evals", "Blocked evaluations waiting for capacity.",
			brokerGauge(func(_, _, b float64) float64 { return b })),
		gaugeFunc("server", "heartbeat_active_timers", "Client heartbeat TTL timers armed on the leader.", g.activeHeartbeatTimers),
	) {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, err
		}
		m.reg = reg
		m.registered = append(m.registered, c)
	}
	return m, nil
}

// unregister removes the server's collectors from the host's registry.
func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

// observeEval records how long a worker (of role leader or follower) took
// over one evaluation.
func (m *metrics) observeEval(evalType, role string, d time.Duration) {
	m.evalLatency.WithLabelValues(evalType, role).Observe(d.Seconds())
}

// appliedIndex implements gauges.
func (s *Server) appliedIndex() float64 {
	if !s.built.Load() {
		return 0
	}
	return float64(s.raft.Applied())
}

// brokerStats implements gauges.
func (s *Server) brokerStats() (ready, unacked, blocked float64) {
	if !s.built.Load() {
		return 0, 0, 0
	}
	st := s.broker.Stats()
	return float64(st.Ready), float64(st.Unacked), float64(s.blocked.Count())
}

// activeHeartbeatTimers implements gauges.
func (s *Server) activeHeartbeatTimers() float64 {
	if !s.built.Load() {
		return 0
	}
	return float64(s.ttl.active())
}

// active is how many nodes have an armed TTL timer.
func (t *ttlTracker) active() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.timers)
}
