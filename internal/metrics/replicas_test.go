package metrics_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/metrics"
)

// TestReplicaMetrics: the sync lease gauge follows the lease, and the
// refresh handoff's outcomes are counters.
func TestReplicaMetrics(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	held := false
	if err := m.AddSyncLease(func() bool { return held }); err != nil {
		t.Fatal(err)
	}
	if err := m.AddRefreshHandoffs(func() (uint64, uint64, uint64) { return 3, 5, 1 }); err != nil {
		t.Fatal(err)
	}
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	body := scrape()
	for _, want := range []string{
		"mlflow_descope_sync_lease_held 0",
		`mlflow_descope_refresh_handoffs_total{outcome="refreshed"} 3`,
		`mlflow_descope_refresh_handoffs_total{outcome="shared"} 5`,
		`mlflow_descope_refresh_handoffs_total{outcome="fallback"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	held = true
	if body := scrape(); !strings.Contains(body, "mlflow_descope_sync_lease_held 1") {
		t.Error("the gauge did not follow the lease")
	}
}
