package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// signInCookies signs in through /auth/session and returns the Cookie header.
func signInCookies(b *testing.B, h *harness, userID string) string {
	b.Helper()
	s, r := h.mint(b, userID, descopesim.MintOptions{})
	resp := h.signIn(b, http.DefaultClient, s, r)
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

// BenchmarkServeHTTP is one proxied MLflow request through the whole handler
// chain (request state, access log, path checks, authentication,
// classification, assertion, reverse proxy), called in-process with
// ServeHTTP into a recorder; the hop to the test upstream (newHarness's,
// which verifies and records every request) is real loopback HTTP.
// "upstream-only" is that hop alone with a valid assertion: subtract it to
// get the gateway's own time and allocations (the upstream runs in the same
// process, so its allocations are counted too).
func BenchmarkServeHTTP(b *testing.B) {
	g := newHarness(b, harnessOpts{})
	g.user(b, "U2bench")
	cookie := signInCookies(b, g, "U2bench")
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
			map[string]string{"Cookie": cookie, "Origin": g.gw.URL, "Content-Type": "application/json"}, http.StatusOK},
		{"access-key/read", http.MethodGet, read, "", map[string]string{"Authorization": "Bearer " + key}, http.StatusOK},
		{"no-credentials/read", http.MethodGet, read, "", map[string]string{"Accept": "application/json"}, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(tc.method, g.gw.URL+tc.path, nil)
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
				g.gw.Handler.ServeHTTP(w, r)
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
		signer, err := assertion.NewSigner([]byte(testSecret), time.Minute, nil)
		if err != nil {
			b.Fatal(err)
		}
		a, _ := signer.Sign("U2bench", "")
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodGet, g.up.url+read, nil)
			req.Header.Set(assertion.Header, a)
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
