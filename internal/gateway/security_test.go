package gateway_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

func TestIdentityHeadersNeverReachMLflow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2mallory")
	sess, _ := h.mint(t, "U2mallory", descopesim.MintOptions{})
	// A genuine assertion for someone else, captured somehow.
	forged := "v1.eyJzdWIiOiJhZG1pbiIsImV4cCI6OTk5OTk5OTk5OX0.AAAA"
	spoofed := map[string]string{
		"X-Mlflow-Descope-Assertion":    forged,
		"x_mlflow_descope_assertion":    forged,
		"X_MLFLOW_DESCOPE_ASSERTION":    forged,
		"x-mlflow-descope-assertion":    forged,
		"X-Forwarded-For":               "10.9.9.9",
		"X_Forwarded_For":               "10.9.9.9",
		"Forwarded":                     "for=10.9.9.9",
		"X-Real-Ip":                     "10.9.9.9",
		"X-Forwarded-User":              "admin",
		"Remote-User":                   "admin",
		"X-Remote-User":                 "admin",
		"X-Auth-Request-User":           "admin",
		"X-Descope-User":                "admin",
		"Proxy-Authorization":           "Basic YWRtaW46YWRtaW4=",
		"Cookie":                        "other=1",
		"X-Mlflow-Authorization":        "Basic YWRtaW46YWRtaW4=",
		"x_mlflow_assistant_delegation": "admin",
	}
	req, _ := http.NewRequest("GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", nil)
	req.Header.Set("Authorization", "Bearer "+sess)
	for k, v := range spoofed {
		req.Header[k] = []string{v} // raw keys: no canonicalisation
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := h.up.last(t)
	if got.Subject != "U2mallory@example.com" {
		t.Fatalf("MLflow saw %q, want U2mallory@example.com", got.Subject)
	}
	for k, vs := range got.Header {
		n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		for _, v := range vs {
			if v == forged || strings.Contains(v, "10.9.9.9") || v == "admin" || strings.Contains(v, "YWRtaW46") || v == "other=1" {
				t.Errorf("spoofed header reached MLflow: %s: %s", k, v)
			}
		}
		if n == "x-mlflow-descope-assertion" && len(vs) != 1 {
			t.Errorf("%d assertion headers reached MLflow", len(vs))
		}
	}
	// The real peer is loopback, which MLflow would take for a local user.
	if xff := got.Header.Get("X-Forwarded-For"); xff != "unknown" {
		t.Errorf("X-Forwarded-For = %q, want \"unknown\" for the loopback peer", xff)
	}
}

func TestCrossSiteCookieWrites(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2alice")
	sess, ref := h.mint(t, "U2alice", descopesim.MintOptions{})
	c := browser(t)
	h.signIn(t, c, sess, ref).Body.Close()
	before := h.up.count()
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"cross-site origin", map[string]string{"Origin": "https://evil.example", "Content-Type": "application/json"}, http.StatusForbidden},
		{"null origin", map[string]string{"Origin": "null", "Content-Type": "application/json"}, http.StatusForbidden},
		{"sec-fetch cross-site", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, http.StatusForbidden},
		{"no origin at all", map[string]string{"Content-Type": "application/json"}, http.StatusForbidden},
		{"same origin", map[string]string{"Origin": h.gw.URL, "Content-Type": "application/json"}, http.StatusOK},
	}
	for _, tt := range tests {
		resp, body := do(t, c, "POST", h.gw.URL+"/api/2.0/mlflow/experiments/create", tt.hdr, `{"name":"x"}`)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, resp.StatusCode, tt.status, body)
		}
	}
	if got := h.up.count() - before; got != 1 {
		t.Errorf("%d writes reached MLflow, want only the same-origin one", got)
	}
	// Bearer clients are not browsers: no Origin needed.
	resp, _ := do(t, browser(t), "POST", h.gw.URL+"/api/2.0/mlflow/experiments/create", map[string]string{"Authorization": "Bearer " + sess, "Content-Type": "application/json"}, `{"name":"y"}`)
	if resp.StatusCode != 200 {
		t.Errorf("bearer write: %d", resp.StatusCode)
	}
}

func TestGatewayPathsAreNotProxied(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	for _, p := range []string{"/auth/nope", "/auth/static/../../etc/passwd", "/auth/admin/x", "/auth/static/"} {
		resp, _ := do(t, browser(t), "GET", h.gw.URL+p, nil, "")
		if resp.StatusCode == 200 {
			t.Errorf("%s: 200", p)
		}
	}
	if h.up.count() != 0 {
		t.Errorf("gateway paths reached MLflow")
	}
	resp, body := do(t, browser(t), "GET", h.gw.URL+"/health", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, "ok") {
		t.Errorf("health: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, browser(t), "GET", h.gw.URL+"/ready", nil, "")
	if resp.StatusCode != 200 {
		t.Errorf("ready: %d %s", resp.StatusCode, body)
	}
}

func TestAccessKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2owner", "mlflow-admin")
	keyID, secret, err := h.sim.CreateAccessKey(descopesim.AccessKeyOptions{BoundUserID: "U2owner", Roles: []string{"mlflow-admin"}})
	if err != nil {
		t.Fatal(err)
	}
	solo, soloSecret, err := h.sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	tests := []struct {
		name, auth, wantUser string
	}{
		{"bearer bound key", "Bearer " + secret, "U2owner@example.com"},
		{"basic bound key", basic("anything", secret), "U2owner@example.com"},
		{"standalone key", "Bearer " + soloSecret, "access-key-" + solo},
	}
	for _, tt := range tests {
		resp, body := do(t, browser(t), "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", map[string]string{"Authorization": tt.auth}, "")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tt.name, resp.StatusCode, body)
		}
		if got := h.up.last(t).Subject; got != tt.wantUser {
			t.Errorf("%s: MLflow user %q, want %q", tt.name, got, tt.wantUser)
		}
	}
	_ = keyID

	// Twenty parallel clients with one new key: one exchange.
	_, fresh, _ := h.sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "parallel"})
	h.sim.ResetCounts()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := do(t, browser(t), "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", map[string]string{"Authorization": "Bearer " + fresh}, "")
			if resp.StatusCode != 200 {
				t.Errorf("parallel: %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if n := h.sim.Count("/v1/auth/accesskey/exchange"); n != 1 {
		t.Errorf("exchanges = %d, want 1", n)
	}

	// A bad key: 401 JSON, and remembered, so Descope is asked once.
	h.sim.ResetCounts()
	for range 5 {
		resp, body := do(t, browser(t), "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", map[string]string{"Authorization": "Bearer not-a-real-key"}, "")
		if resp.StatusCode != http.StatusUnauthorized || errorCode(t, body) != "UNAUTHENTICATED" {
			t.Fatalf("bad key: %d %s", resp.StatusCode, body)
		}
	}
	if n := h.sim.Count("/v1/auth/accesskey/exchange"); n != 1 {
		t.Errorf("exchanges for a bad key = %d, want 1", n)
	}

	// Descope rate-limiting the exchange: 503 with Retry-After, not 401.
	_, other, _ := h.sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "limited"})
	h.sim.InjectFault(descopesim.Fault{PathPrefix: "/v1/auth/accesskey/exchange", Status: 429, RetryAfter: 9, Times: 1})
	resp, body := do(t, browser(t), "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", map[string]string{"Authorization": "Bearer " + other}, "")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "9" {
		t.Errorf("rate-limited exchange: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// And the key was not remembered as bad.
	resp, _ = do(t, browser(t), "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", map[string]string{"Authorization": "Bearer " + other}, "")
	if resp.StatusCode != 200 {
		t.Errorf("after the 429: %d", resp.StatusCode)
	}

	// A deactivated key stops working once the cached key record expires;
	// Forget stands in for that expiry here.
	if err := h.sim.DeactivateAccessKey(solo); err != nil {
		t.Fatal(err)
	}
	h.keys.Forget()
	resp, _ = do(t, browser(t), "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", map[string]string{"Authorization": "Bearer " + soloSecret}, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("deactivated key: %d", resp.StatusCode)
	}
}

func TestRefreshTokenIsNotABearer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2alice")
	_, ref := h.mint(t, "U2alice", descopesim.MintOptions{})
	resp, body := do(t, browser(t), "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", map[string]string{"Authorization": "Bearer " + ref}, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("refresh JWT as bearer: %d %s", resp.StatusCode, body)
	}
	if h.up.count() != 0 {
		t.Error("reached MLflow")
	}
}

func TestMLflowDenialsBecomeJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{upstream: httptestDenier(t)})
	h.user(t, "U2bob")
	sess, _ := h.mint(t, "U2bob", descopesim.MintOptions{})
	resp, body := do(t, browser(t), "POST", h.gw.URL+"/api/2.0/mlflow/runs/create", map[string]string{"Authorization": "Bearer " + sess, "Content-Type": "application/json"}, `{"experiment_id":"1"}`)
	if resp.StatusCode != http.StatusForbidden || errorCode(t, body) != "PERMISSION_DENIED" {
		t.Fatalf("got %d %s, want 403 PERMISSION_DENIED JSON", resp.StatusCode, body)
	}
	if !strings.Contains(body, "Permission denied") {
		t.Errorf("MLflow's message lost: %s", body)
	}
}

func httptestDenier(t *testing.T) http.Handler {
	t.Helper()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "Permission denied")
	})
}
