package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/session"
)

// benchGateway is newHarness with a lean upstream (it records nothing), so
// the numbers are the handler chain's: request state, access log, path
// checks, authentication, classification, assertion, reverse proxy over
// loopback keep-alive.
type benchGateway struct {
	sim      *descopesim.Server
	handler  http.Handler
	gw       *httptest.Server
	upstream *httptest.Server
}

func newBenchGateway(b *testing.B) *benchGateway {
	b.Helper()
	sim, err := descopesim.New(descopesim.Options{ProjectID: "P2GatewayBench001"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sim.Close() })
	dc, err := descope.New(descope.Options{BaseURL: sim.URL(), ProjectID: sim.ProjectID(), ManagementKey: descope.Secret(sim.ManagementKey())})
	if err != nil {
		b.Fatal(err)
	}
	keys, err := descope.NewKeys(dc, descope.KeysOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := keys.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	verifier, err := descope.NewVerifier(keys, descope.VerifierOptions{})
	if err != nil {
		b.Fatal(err)
	}
	sessions, err := session.NewManager(session.Options{Verifier: verifier, Refresher: dc})
	if err != nil {
		b.Fatal(err)
	}
	ak, err := accesskey.New(accesskey.Options{Descope: dc, Verifier: verifier})
	if err != nil {
		b.Fatal(err)
	}
	signer, err := assertion.NewSigner([]byte(testSecret), time.Minute, nil)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"experiment":{"experiment_id":"1","name":"bench"}}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get(assertion.Header) == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(up.Close)
	upURL, _ := url.Parse(up.URL)
	h, err := New(Options{
		ProjectID:       sim.ProjectID(),
		FlowID:          "sign-up-or-in",
		WebComponentURL: sim.URL() + "/sim/web-component.js",
		DescopeBaseURL:  sim.URL(),
		AdminRoles:      []string{"admin", "mlflow-admin"},
		AdminUsername:   "mlflow-descope-auth-admin",
		Upstream:        upURL,
		Verifier:        verifier,
		Descope:         dc,
		Sessions:        sessions,
		Keys:            ak,
		Signer:          signer,
		KeysReady:       keys.Ready,
		Logger:          slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	gw := httptest.NewServer(h)
	b.Cleanup(gw.Close)
	if err := sim.CreateUser(descopesim.User{ID: "U2bench", LoginIDs: []string{"bench@example.com"}, Email: "bench@example.com"}); err != nil {
		b.Fatal(err)
	}
	return &benchGateway{sim: sim, handler: h, gw: gw, upstream: up}
}

// cookies signs in through /auth/session and returns the Cookie header.
func (g *benchGateway) cookies(b *testing.B) string {
	b.Helper()
	s, r, err := g.sim.MintSession("U2bench", descopesim.MintOptions{})
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, g.gw.URL+"/auth/session", strings.NewReader(`{"sessionJwt":"`+s+`","refreshJwt":"`+r+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", g.gw.URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	var parts []string
	for _, c := range resp.Cookies() {
		parts = append(parts, c.Name+"="+c.Value)
	}
	if resp.StatusCode != http.StatusOK || len(parts) == 0 {
		b.Fatalf("sign in: status %d, %d cookies", resp.StatusCode, len(parts))
	}
	return strings.Join(parts, "; ")
}

// BenchmarkServeHTTP is one proxied MLflow request through the whole chain,
// called in-process (ServeHTTP into a recorder); the upstream hop is real
// loopback HTTP. "upstream-only" is that hop alone, to subtract. Allocations
// include the in-process upstream's.
func BenchmarkServeHTTP(b *testing.B) {
	g := newBenchGateway(b)
	cookie := g.cookies(b)
	_, key, err := g.sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "bench", BoundUserID: "U2bench"})
	if err != nil {
		b.Fatal(err)
	}
	const read = "/api/2.0/mlflow/experiments/get?experiment_id=1"
	const batch = `{"run_id":"0123456789abcdef0123456789abcdef","metrics":[{"key":"m","value":1.5,"timestamp":1,"step":1}]}`
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		hdr    map[string]string
		status int
	}{
		{"cookie/read", http.MethodGet, read, "", map[string]string{"Cookie": cookie}, http.StatusOK},
		{"cookie/log-batch", http.MethodPost, "/api/2.0/mlflow/runs/log-batch", batch,
			map[string]string{"Cookie": cookie, "Origin": "http://example.com", "Content-Type": "application/json"}, http.StatusOK},
		{"access-key/read", http.MethodGet, read, "", map[string]string{"Authorization": "Bearer " + key}, http.StatusOK},
		{"no-credentials/read", http.MethodGet, read, "", map[string]string{"Accept": "application/json"}, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(tc.method, "http://example.com"+tc.path, nil)
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			serve := func() int {
				r := req.Clone(context.Background())
				if tc.body != "" {
					r.Body = io.NopCloser(strings.NewReader(tc.body))
					r.ContentLength = int64(len(tc.body))
				}
				w := httptest.NewRecorder()
				g.handler.ServeHTTP(w, r)
				return w.Code
			}
			if got := serve(); got != tc.status { // warms the token and key caches
				b.Fatalf("status %d, want %d", got, tc.status)
			}
			b.ReportAllocs()
			for b.Loop() {
				if got := serve(); got != tc.status {
					b.Fatalf("status %d, want %d", got, tc.status)
				}
			}
		})
	}
	b.Run("upstream-only", func(b *testing.B) {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
		defer c.CloseIdleConnections()
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodGet, g.upstream.URL+read, nil)
			req.Header.Set(assertion.Header, "x")
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
