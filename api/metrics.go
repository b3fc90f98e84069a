package api

import (
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// metricsSummary is Nomad's JSON metrics summary.
type metricsSummary struct {
	Timestamp string
	Gauges    []gaugeValue
	Points    []struct{}
	Counters  []sampledValue
	Samples   []sampledValue
}

type gaugeValue struct {
	Name   string
	Value  float32
	Labels map[string]string
}

type sampledValue struct {
	Name   string
	Count  int
	Rate   float64
	Sum    float64
	Min    float64
	Max    float64
	Mean   float64
	Stddev float64
	Labels map[string]string
}

// metrics serves /v1/metrics: Prometheus text with format=prometheus, else
// a JSON summary shaped like Nomad's.
func (h *Handler) metrics(w http.ResponseWriter, r *http.Request, _ []string) error {
	g := h.b.Gatherer()
	if g == nil {
		return &httpError{code: http.StatusNotFound, msg: "metrics are not collected: the host passed no Prometheus registry"}
	}
	if r.URL.Query().Get("format") == "prometheus" {
		promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
		return nil
	}
	families, err := g.Gather()
	if err != nil && len(families) == 0 {
		return err
	}
	h.setMeta(w, h.b.StateIndex())
	return writeJSON(w, summarize(families, time.Now()))
}

func summarize(families []*dto.MetricFamily, now time.Time) metricsSummary {
	out := metricsSummary{
		Timestamp: now.UTC().Format("2006-01-02 15:04:05 -0700 MST"),
		Gauges:    []gaugeValue{}, Points: []struct{}{}, Counters: []sampledValue{}, Samples: []sampledValue{},
	}
	for _, f := range families {
		name := f.GetName()
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_GAUGE:
				out.Gauges = append(out.Gauges, gaugeValue{Name: name, Value: float32(m.GetGauge().GetValue()), Labels: labels})
			case dto.MetricType_UNTYPED:
				out.Gauges = append(out.Gauges, gaugeValue{Name: name, Value: float32(m.GetUntyped().GetValue()), Labels: labels})
			case dto.MetricType_COUNTER:
				v := m.GetCounter().GetValue()
				out.Counters = append(out.Counters, sampledValue{Name: name, Count: 1, Sum: v, Min: v, Max: v, Mean: v, Labels: labels})
			case dto.MetricType_HISTOGRAM:
				hg := m.GetHistogram()
				out.Samples = append(out.Samples, sample(name, hg.GetSampleCount(), hg.GetSampleSum(), labels))
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				out.Samples = append(out.Samples, sample(name, s.GetSampleCount(), s.GetSampleSum(), labels))
			}
		}
	}
	sort.SliceStable(out.Gauges, func(i, k int) bool { return strings.Compare(out.Gauges[i].Name, out.Gauges[k].Name) < 0 })
	return out
}

func sample(name string, count uint64, sum float64, labels map[string]string) sampledValue {
	s := sampledValue{Name: name, Count: int(min(count, math.MaxInt32)), Sum: sum, Labels: labels}
	if count > 0 {
		s.Mean = sum / float64(count)
	}
	return s
}
