package client

import "github.com/prometheus/client_golang/prometheus"

// metrics are the client's Prometheus collectors, registered on the host's
// Registerer (never the global one).
type metrics struct {
	taskStarts        prometheus.Counter
	taskRestarts      prometheus.Counter
	taskFailures      prometheus.Counter
	heartbeatFailures prometheus.Counter
}

// newMetrics builds the collectors; running reports how many allocations
// the client runs now.
func newMetrics(reg prometheus.Registerer, running func() float64) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "drover", Subsystem: "client", Name: name, Help: help})
	}
	m := &metrics{
		taskStarts:        counter("task_starts_total", "Tasks started by drivers, restarts included."),
		taskRestarts:      counter("task_restarts_total", "Tasks restarted by their restart policy."),
		taskFailures:      counter("task_failures_total", "Tasks that ended failed, past their restart policy."),
		heartbeatFailures: counter("heartbeat_failures_total", "Heartbeats that no server answered."),
	}
	if reg == nil {
		return m, nil
	}
	allocsRunning := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "drover", Subsystem: "client", Name: "allocs_running",
		Help: "Allocations whose tasks this client is running.",
	}, running)
	for _, c := range []prometheus.Collector{m.taskStarts, m.taskRestarts, m.taskFailures, m.heartbeatFailures, allocsRunning} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// running counts the allocations whose runners have not finished.
func (m *allocManager) running() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.runners {
		if !r.finished() {
			n++
		}
	}
	return float64(n)
}
