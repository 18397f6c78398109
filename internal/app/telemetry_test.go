package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

func countEvents(t *testing.T, dataDir string, f audit.Filter) int {
	t.Helper()
	s, err := audit.Open(context.Background(), filepath.Join(dataDir, "audit.db"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f.Limit = audit.MaxLimit
	n := 0
	for {
		pg, err := s.Query(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		n += len(pg.Events)
		if pg.NextCursor == "" {
			return n
		}
		f.Cursor = pg.NextCursor
	}
}

// TestShutdownLosesNoEvent cancels serve (SIGTERM) while requests are in
// flight: every request that got its answer has its audit event.
func TestShutdownLosesNoEvent(t *testing.T) {
	t.Parallel()
	e := startExternal(t, 150*time.Millisecond)
	sess, _ := e.user(t, "U2shut")
	var answered atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	defer client.CloseIdleConnections()
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				req, _ := http.NewRequest("GET", e.url+"/api/2.0/mlflow/experiments/search", nil)
				req.Header.Set("Authorization", "Bearer "+sess)
				resp, err := client.Do(req)
				if err != nil {
					return // the listener is closed: not accepted
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					answered.Add(1)
				} else {
					t.Logf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond) // several rounds, then cancel mid-flight
	before := answered.Load()
	e.stop(t)
	wg.Wait()
	n := countEvents(t, e.dataDir, audit.Filter{Action: audit.ActionRequest})
	t.Logf("%d requests answered (%d of them after serve was cancelled); %d request events", answered.Load(), answered.Load()-before, n)
	if answered.Load() == before || int64(n) != answered.Load() {
		t.Fatalf("request events = %d; want %d (one per answered request)", n, answered.Load())
	}
	if !strings.Contains(e.logs.String(), `"dropped":0`) {
		t.Errorf("audit close did not report zero drops:\n%s", e.logs.String())
	}
}

// TestNoSecretsInLogs sends every kind of credential through serve with
// debug JSON logging and checks that none appears in the log.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	e := startExternal(t, 0, "MLFLOW_DESCOPE_LOG_LEVEL=debug", "MLFLOW_DESCOPE_AUDIT_STDOUT=true")
	sess, ref := e.user(t, "U2sec")
	_, keySecret, err := e.sim.CreateAccessKey(descopesim.AccessKeyOptions{BoundUserID: "U2sec"})
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := e.sim.MintSession("U2sec", descopesim.MintOptions{SessionTTL: -time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	api := e.url + "/api/2.0/mlflow/experiments/search"
	body, _ := json.Marshal(map[string]string{"sessionJwt": sess, "refreshJwt": ref})
	tests := []struct {
		name, method, url, body string
		hdr                     map[string]string
	}{
		{"bearer jwt", "GET", api, "", map[string]string{"Authorization": "Bearer " + sess}},
		{"refresh jwt as bearer", "GET", api, "", map[string]string{"Authorization": "Bearer " + ref}},
		{"expired jwt", "GET", api, "", map[string]string{"Authorization": "Bearer " + expired}},
		{"access key", "GET", api, "", map[string]string{"Authorization": "Bearer " + keySecret}},
		{"bad access key", "GET", api, "", map[string]string{"Authorization": "Bearer " + keySecret + "x"}},
		{"basic", "GET", api, "", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("u:"+keySecret))}},
		{"sign in", "POST", e.url + "/auth/session", string(body), map[string]string{"Content-Type": "application/json", "Origin": e.url}},
		{"cookies", "GET", api, "", map[string]string{"Cookie": "mlflow_ds=" + sess + "; mlflow_dsr=" + ref}},
		{"expired cookie, refreshed", "GET", api, "", map[string]string{"Cookie": "mlflow_ds=" + expired + "; mlflow_dsr=" + ref}},
		{"logout", "POST", e.url + "/auth/logout", "", map[string]string{"Cookie": "mlflow_ds=" + sess + "; mlflow_dsr=" + ref, "Origin": e.url}},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
		for k, v := range tt.hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		resp.Body.Close()
	}
	e.stop(t)
	logs, siem := e.logs.String(), e.stdout.String()
	if !strings.Contains(logs, `"msg":"request"`) || !strings.Contains(logs, `"request_id"`) {
		t.Fatalf("no JSON access log lines:\n%s", logs)
	}
	secrets := map[string]string{"session jwt": sess, "refresh jwt": ref, "expired jwt": expired, "access key": keySecret,
		"management key": e.sim.ManagementKey(), "assertion secret": externalSecret}
	for _, tok := range []string{sess, ref, expired} {
		secrets["jwt signature"] = tok[strings.LastIndexByte(tok, '.')+1:]
	}
	for name, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds the %s", name)
		}
		if strings.Contains(siem, s) {
			t.Errorf("the audit stream holds the %s", name)
		}
	}
	if !strings.Contains(siem, `"action":"sign_in"`) {
		t.Errorf("no audit lines on stdout")
	}
}

// TestMetricsListener scrapes the separate metrics listener of a running
// serve, and checks the public port serves none of it.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	e := startExternal(t, 0, "MLFLOW_DESCOPE_METRICS_ADDR="+addr)
	sess, _ := e.user(t, "U2met")
	for _, h := range []string{"Bearer " + sess, "Bearer nope"} {
		req, _ := http.NewRequest("GET", e.url+"/api/2.0/mlflow/experiments/search", nil)
		req.Header.Set("Authorization", h)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, fam := range []string{"mlflow_descope_http_requests_total", "mlflow_descope_http_request_duration_seconds",
		"mlflow_descope_authentications_total", "mlflow_descope_descope_request_duration_seconds", "mlflow_descope_jwks_fetches_total",
		"mlflow_descope_cache_lookups_total", "mlflow_descope_audit_queue_depth", "mlflow_descope_audit_events_dropped_total",
		"go_goroutines", "process_cpu_seconds_total"} {
		if !bytes.Contains(b, []byte(fam)) {
			t.Errorf("scrape lacks %s", fam)
		}
	}
	pub, err := http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := io.ReadAll(pub.Body)
	pub.Body.Close()
	if bytes.Contains(pb, []byte("mlflow_descope_")) || pub.StatusCode < 300 {
		t.Errorf("public /metrics: %d %s", pub.StatusCode, pb)
	}
}
