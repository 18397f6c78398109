package audit

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Writer's Prometheus collectors. Build them with NewMetrics
// on the registry that run owns; nothing is registered globally.
type Metrics struct {
	Accepted      prometheus.Counter
	Written       prometheus.Counter
	Dropped       prometheus.Counter
	Invalid       prometheus.Counter
	Failed        prometheus.Counter
	AppendErrors  prometheus.Counter
	QueueDepth    prometheus.Gauge
	AppendSeconds prometheus.Histogram
}

// NewMetrics creates the collectors, named <namespace>_audit_..., and
// registers them on reg.
func NewMetrics(reg prometheus.Registerer, namespace string) (*Metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Subsystem: "audit", Name: name, Help: help})
	}
	m := &Metrics{
		Accepted:     counter("events_accepted_total", "Audit events accepted into the write queue."),
		Written:      counter("events_written_total", "Audit events committed to the audit store."),
		Dropped:      counter("events_dropped_total", "Audit events refused because the queue was full or the writer closed."),
		Invalid:      counter("events_invalid_total", "Audit events refused because they failed validation."),
		Failed:       counter("events_failed_total", "Accepted audit events that were never stored."),
		AppendErrors: counter("append_errors_total", "Failed audit store appends (each is retried)."),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "audit",
			Name: "queue_depth", Help: "Audit events waiting in the write queue."}),
		AppendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "audit",
			Name: "append_duration_seconds", Help: "Duration of audit store appends.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9)}),
	}
	for _, c := range []prometheus.Collector{m.Accepted, m.Written, m.Dropped, m.Invalid, m.Failed,
		m.AppendErrors, m.QueueDepth, m.AppendSeconds} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("audit: register metrics: %w", err)
		}
	}
	return m, nil
}
