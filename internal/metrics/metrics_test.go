package metrics_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gatewaytest"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/metrics"
)

func get(tb testing.TB, url string, hdr map[string]string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestScrapeShowsEveryFamily drives a gateway (with the sync job on) and
// checks that one scrape of its metrics holds every metric family
// docs/metrics.md lists.
func TestScrapeShowsEveryFamily(t *testing.T) {
	t.Parallel()
	g := gatewaytest.New(t, gatewaytest.Options{Env: []string{"DESCOPE_SYNC_INTERVAL=1h"}})

	g.User(t, "U2alice")
	sess, ref := g.Mint(t, "U2alice", descopesim.MintOptions{})
	api := g.URL + "/api/2.0/mlflow/experiments/get?experiment_id="
	bearer := map[string]string{"Authorization": "Bearer " + sess}
	for _, id := range []string{"1", "1", gatewaytest.DeniedExperiment} {
		get(t, api+id, bearer)
	}
	get(t, api+"1", map[string]string{"Authorization": "Bearer nonsense"})
	_, secret := g.AccessKey(t, "U2alice")
	get(t, api+"2", map[string]string{"Authorization": "Bearer " + secret})
	// A sign-in asks Descope's /me: make it answer 429 once, then 500.
	if err := g.Sim.InjectFault(descopesim.Fault{PathPrefix: "/v1/auth/me", Status: 429, Times: 1}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		body, _ := json.Marshal(map[string]string{"sessionJwt": sess, "refreshJwt": ref})
		req, _ := http.NewRequest("POST", g.URL+"/auth/session", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", g.URL)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if err := g.Sim.InjectFault(descopesim.Fault{PathPrefix: "/v1/auth/me", Status: 500, Times: 1}); err != nil {
			t.Fatal(err)
		}
	}

	var body string
	// The sync job's first run goes on beside the requests.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		rec := httptest.NewRecorder()
		g.App.Metrics().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body = rec.Body.String()
		if strings.Contains(body, `mlflow_descope_sync_runs_total{outcome="success"} 1`) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{
		`mlflow_descope_http_requests_total{family="api",outcome="success",rpc="GetExperiment"} 3`,
		`mlflow_descope_http_requests_total{family="api",outcome="mlflow_denied",rpc="GetExperiment"} 1`,
		`mlflow_descope_http_requests_total{family="mlflow",outcome="unauthenticated",rpc=""} 1`,
		`mlflow_descope_http_request_duration_seconds_bucket{family="api",outcome="success"`,
		`mlflow_descope_authentications_total{method="bearer_jwt",outcome="success",reason=""}`,
		`mlflow_descope_authentications_total{method="access_key",outcome="success",reason=""} 1`,
		`mlflow_descope_authentications_total{method="access_key",outcome="failure",reason="rejected"} 1`,
		`mlflow_descope_session_events_total{event="sign_in"} 2`,
		`mlflow_descope_access_key_exchanges_total{outcome="success"} 1`,
		`mlflow_descope_provision_changes_total{action="provision_user"} 1`,
		`mlflow_descope_sync_runs_total{outcome="success"} 1`,
		`mlflow_descope_sync_lease_held 1`,
		`mlflow_descope_descope_request_duration_seconds_bucket{code="2xx",endpoint="/v1/auth/accesskey/exchange"`,
		`mlflow_descope_descope_rate_limited_total{endpoint="/v1/auth/me"} 1`,
		`mlflow_descope_descope_errors_total{endpoint="/v1/auth/me",kind="server"} 1`,
		`mlflow_descope_jwks_fetches_total{outcome="success"}`,
		`mlflow_descope_cache_lookups_total{cache="descope_token",result="hit"}`,
		`mlflow_descope_cache_lookups_total{cache="access_key",result="miss"} 2`,
		`mlflow_descope_cache_lookups_total{cache="provision",result="hit"}`,
		`mlflow_descope_audit_queue_depth 0`,
		`mlflow_descope_audit_events_dropped_total 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	for _, never := range []string{"U2alice", "experiment_id", "/api/2.0", sess[:20]} {
		if strings.Contains(body, never) {
			t.Errorf("scrape names %q: labels must be families, never paths or users", never)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

// TestMLflowWorkers: the supervised MLflow processes are labelled by worker
// (the gateway in TestScrapeShowsEveryFamily runs in front of an external
// one).
func TestMLflowWorkers(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddMLflowWorkers(func() []metrics.Worker {
		return []metrics.Worker{{Up: true, InFlight: 3, Requests: 10}, {Failed: 1, Restarts: 2}}
	}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`mlflow_descope_mlflow_worker_up{worker="0"} 1`, `mlflow_descope_mlflow_worker_up{worker="1"} 0`,
		`mlflow_descope_mlflow_worker_in_flight{worker="0"} 3`, `mlflow_descope_mlflow_worker_requests_total{worker="0"} 10`,
		`mlflow_descope_mlflow_worker_failures_total{worker="1"} 1`, `mlflow_descope_mlflow_restarts_total{worker="1"} 2`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// The gateway's public port never serves its own metrics, and an
// anonymous GET /metrics never reaches MLflow.
func TestPublicMetricsPathIsNotExposed(t *testing.T) {
	t.Parallel()
	g := gatewaytest.New(t, gatewaytest.Options{})
	g.User(t, "U2bob")
	sess, _ := g.Mint(t, "U2bob", descopesim.MintOptions{})
	tests := []struct {
		name string
		hdr  map[string]string
	}{
		{"browser", map[string]string{"Accept": "text/html"}},
		{"api client", nil},
		{"authenticated", map[string]string{"Authorization": "Bearer " + sess}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.MLflow.Reached.Load()
			status, body := get(t, g.URL+"/metrics", tt.hdr)
			if strings.Contains(body, "mlflow_descope_") || strings.Contains(body, "# TYPE") {
				t.Errorf("public /metrics served metrics: %d %s", status, body)
			}
			if tt.hdr["Authorization"] == "" && (g.MLflow.Reached.Load() != before || status < 300) {
				t.Errorf("anonymous /metrics: status %d, upstream calls %d → %d", status, before, g.MLflow.Reached.Load())
			}
		})
	}
}

func TestEndpointLabels(t *testing.T) {
	t.Parallel()
	tests := []struct{ path, want string }{
		{"/v1/auth/refresh", "/v1/auth/refresh"},
		{"/v2/keys/P2abc", "/v2/keys/{project_id}"},
		{"/v2/keys/P2abc/extra", "other"},
		{"/v1/mgmt/user", "/v1/mgmt/user"},
		{"/v1/mgmt/user/U2secret", "other"},
		{"/", "other"},
	}
	for _, tt := range tests {
		if got := metrics.Endpoint(tt.path); got != tt.want {
			t.Errorf("Endpoint(%q) = %q; want %q", tt.path, got, tt.want)
		}
	}
}

// TestSelfServiceEvents: keys created and revoked and the steps of a
// sign-in from code are counted by action and outcome.
func TestSelfServiceEvents(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	m.Handle(&event.Record{Events: []event.Event{
		event.KeyCreated{KeyID: "K2a"},
		event.KeyCreated{KeyID: "K2b"},
		event.KeyRevoked{KeyID: "K2a"},
		event.KeyRevoked{KeyID: "K2c", Refused: event.ReasonNotOwner},
		event.CodeSignIn{},
		event.CodeSignIn{Declined: true},
		event.CodeSignIn{Refused: event.ReasonPKCEMismatch},
		event.CodeSignIn{Device: true},
		event.CodeSignIn{Device: true, Refused: event.ReasonReusedCode},
	}})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`mlflow_descope_self_service_events_total{action="access_key_create",outcome="success"} 2`,
		`mlflow_descope_self_service_events_total{action="access_key_revoke",outcome="success"} 1`,
		`mlflow_descope_self_service_events_total{action="access_key_revoke",outcome="denied"} 1`,
		`mlflow_descope_self_service_events_total{action="cli_login",outcome="success"} 1`,
		`mlflow_descope_self_service_events_total{action="cli_login",outcome="denied"} 1`,
		`mlflow_descope_self_service_events_total{action="cli_login",outcome="failure"} 1`,
		`mlflow_descope_self_service_events_total{action="device_approve",outcome="success"} 1`,
		`mlflow_descope_self_service_events_total{action="device_approve",outcome="failure"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}
