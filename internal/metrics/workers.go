package metrics

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Worker is one supervised MLflow process at scrape time.
type Worker struct {
	// Up: it answers and the gateway sends it requests.
	Up bool
	// InFlight: requests sent to it whose response is not finished.
	InFlight int64
	// Requests sent to it; Failed: connections to it refused or broken
	// before an answer (it had died; those requests went to another worker
	// when they could).
	Requests, Failed uint64
	// Restarts: times its process was started again after dying.
	Restarts int
}

// workerCollector reads the pool's state at scrape time.
type workerCollector struct {
	stats                                func() []Worker
	up, inFlight, requests, failed, rest *prometheus.Desc
}

func (c *workerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.inFlight, c.requests, c.failed, c.rest} {
		ch <- d
	}
}

func (c *workerCollector) Collect(ch chan<- prometheus.Metric) {
	for i, w := range c.stats() {
		id := strconv.Itoa(i)
		up := 0.0
		if w.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, id)
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(w.InFlight), id)
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(w.Requests), id)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(w.Failed), id)
		ch <- prometheus.MustNewConstMetric(c.rest, prometheus.CounterValue, float64(w.Restarts), id)
	}
}

// AddMLflowWorkers exports the supervised MLflow processes, labelled by
// worker index: mlflow_worker_up, mlflow_worker_in_flight,
// mlflow_worker_requests_total, mlflow_worker_failures_total and
// mlflow_restarts_total.
func (m *Metrics) AddMLflowWorkers(stats func() []Worker) error {
	if stats == nil {
		return errors.New("metrics: add mlflow workers: nil func")
	}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, []string{"worker"}, nil)
	}
	c := &workerCollector{
		stats:    stats,
		up:       desc("mlflow_worker_up", "1 while the MLflow worker process answers and receives requests."),
		inFlight: desc("mlflow_worker_in_flight", "Requests sent to the MLflow worker whose response has not finished."),
		requests: desc("mlflow_worker_requests_total", "Requests the gateway sent to the MLflow worker."),
		failed:   desc("mlflow_worker_failures_total", "Connections to the MLflow worker refused or broken before an answer (it had died); such requests went to another worker when they could be sent again."),
		rest:     desc("mlflow_restarts_total", "Times the MLflow worker process was started again after it died."),
	}
	if err := m.reg.Register(c); err != nil {
		return fmt.Errorf("metrics: register mlflow workers: %w", err)
	}
	return nil
}
