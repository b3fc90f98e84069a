package client

import "github.com/prometheus/client_golang/prometheus"

// metrics are the client's Prometheus collectors, registered on the host's
// Registerer (never the global one).
type metrics struct {
	taskStarts        prometheus.Counter
	taskRestarts      prometheus.Counter
	taskFailures      prometheus.Counter
	taskRecoveries    prometheus.Counter
	heartbeatFailures prometheus.Counter
	updateBatches     prometheus.Counter
	updateFailures    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "drover", Subsystem: "client", Name: name, Help: help})
	}
	m := &metrics{
		taskStarts:        counter("task_starts_total", "Tasks started by drivers, restarts included."),
		taskRestarts:      counter("task_restarts_total", "Tasks restarted by their restart policy."),
		taskFailures:      counter("task_failures_total", "Tasks that ended failed, past their restart policy."),
		taskRecoveries:    counter("task_recoveries_total", "Running tasks reattached after a client restart."),
		heartbeatFailures: counter("heartbeat_failures_total", "Heartbeats that no server answered."),
		updateBatches:     counter("alloc_update_batches_total", "Allocation status batches the servers acknowledged."),
		updateFailures:    counter("alloc_update_failures_total", "Allocation status batches that failed and are retried."),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.taskStarts, m.taskRestarts, m.taskFailures, m.taskRecoveries,
		m.heartbeatFailures, m.updateBatches, m.updateFailures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
