package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// TestMLflowMetricsNotPublic: even with prometheus_multiproc_dir in the
// gateway's environment (what `mlflow server --expose-prometheus` sets),
// the supervised MLflow serves no /metrics through the public port, to
// anyone.
func TestMLflowMetricsNotPublic(t *testing.T) {
	st := startStack(t, "prometheus_multiproc_dir="+t.TempDir())
	if err := st.sim.CreateUser(descopesim.User{ID: "U2prom", LoginIDs: []string{"prom@example.com"}, Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	sess, _, err := st.sim.MintSession("U2prom", descopesim.MintOptions{SessionTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range []string{"", "Bearer " + sess} {
		req, _ := http.NewRequest("GET", st.url+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || strings.Contains(string(b), "# TYPE") {
			t.Errorf("GET /metrics (auth %v): %d %.200s", auth != "", resp.StatusCode, b)
		}
	}
}
