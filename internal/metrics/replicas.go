package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// AddSyncLease exports whether this replica holds the sync job's lease as
// mlflow_descope_sync_lease_held (1 or 0). Summed over the replicas it is
// 1 while the sync runs somewhere; each scrape target says which.
func (m *Metrics) AddSyncLease(held func() bool) error {
	if held == nil {
		return errors.New("metrics: add sync lease: nil func")
	}
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "sync_lease_held",
		Help: "1 while this replica holds the lease that makes it the one running the user sync, else 0."},
		func() float64 {
			if held() {
				return 1
			}
			return 0
		})
	if err := m.reg.Register(g); err != nil {
		return fmt.Errorf("metrics: register sync lease: %w", err)
	}
	return nil
}

// HandoffFunc reports the refresh handoff's cumulative outcomes.
type HandoffFunc func() (refreshed, shared, fallbacks uint64)

// AddRefreshHandoffs exports the outcomes of refreshes shared between
// replicas as mlflow_descope_refresh_handoffs_total{outcome}: refreshed
// (this replica refreshed at Descope and shared the result), shared (it used
// another replica's result), fallback (the database was unavailable; it
// refreshed without sharing).
func (m *Metrics) AddRefreshHandoffs(f HandoffFunc) error {
	if f == nil {
		return errors.New("metrics: add refresh handoffs: nil func")
	}
	if err := m.reg.Register(&handoffCollector{f: f, desc: prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "refresh", "handoffs_total"),
		"Session refreshes through the database shared by replicas, by outcome (refreshed, shared, fallback).",
		[]string{"outcome"}, nil)}); err != nil {
		return fmt.Errorf("metrics: register refresh handoffs: %w", err)
	}
	return nil
}

type handoffCollector struct {
	desc *prometheus.Desc
	f    HandoffFunc
}

func (c *handoffCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *handoffCollector) Collect(ch chan<- prometheus.Metric) {
	refreshed, shared, fallbacks := c.f()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(refreshed), "refreshed")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(shared), "shared")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(fallbacks), "fallback")
}
