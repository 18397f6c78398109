package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	c := browser(t)
	tests := []struct {
		name     string
		method   string
		path     string
		hdr      map[string]string
		status   int
		location string
	}{
		{"browser page", "GET", "/", map[string]string{"Accept": "text/html"}, http.StatusFound, "/auth/login?next=%2F"},
		{"browser deep link", "GET", "/#/x?y=1", map[string]string{"Accept": "text/html,*/*"}, http.StatusFound, "/auth/login?next=%2F"},
		{"api", "GET", "/api/2.0/mlflow/experiments/search", nil, http.StatusUnauthorized, ""},
		{"ajax api with html accept", "POST", "/ajax-api/2.0/mlflow/runs/create", map[string]string{"Accept": "text/html"}, http.StatusUnauthorized, ""},
		{"graphql", "POST", "/graphql", nil, http.StatusUnauthorized, ""},
		{"garbage bearer", "GET", "/api/2.0/mlflow/experiments/search", map[string]string{"Authorization": "Bearer eyJ.x.y"}, http.StatusUnauthorized, ""},
		{"unknown scheme", "GET", "/", map[string]string{"Authorization": "Digest x"}, http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, c, tt.method, h.gw.URL+tt.path, tt.hdr, "")
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
			if tt.location != "" {
				if got := resp.Header.Get("Location"); got != tt.location {
					t.Errorf("Location = %q, want %q", got, tt.location)
				}
			} else if code := errorCode(t, body); code != "UNAUTHENTICATED" {
				t.Errorf("error_code = %q, want UNAUTHENTICATED", code)
			}
		})
	}
	if n := h.up.count(); n != 0 {
		t.Errorf("%d unauthenticated requests reached MLflow", n)
	}
}

func TestLoginPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	c := browser(t)
	tests := []struct{ next, want string }{
		{"/#/experiments/1", `data-next="/#/experiments/1"`},
		{"//evil.example", `data-next="/"`},
		{"https://evil.example/", `data-next="/"`},
		{"/%5Cevil.example", `data-next="/"`},
	}
	for _, tt := range tests {
		resp, body := do(t, c, "GET", h.gw.URL+"/auth/login?next="+url.QueryEscape(tt.next), nil, "")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if !strings.Contains(body, tt.want) {
			t.Errorf("next=%q: page lacks %s", tt.next, tt.want)
		}
		if !strings.Contains(body, `project-id="`+h.sim.ProjectID()+`"`) || !strings.Contains(body, `flow-id="sign-up-or-in"`) {
			t.Error("page lacks the web component attributes")
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self' " + h.sim.URL(), "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "'unsafe-eval'") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") || strings.Contains(csp, " *") {
			t.Errorf("CSP too loose: %q", csp)
		}
	}
}

func TestSignInAndProxy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2alice")
	sess, ref := h.mint(t, "U2alice", descopesim.MintOptions{})
	c := browser(t)
	resp := h.signIn(t, c, sess, ref)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in status %d", resp.StatusCode)
	}
	var ds, dsr *http.Cookie
	for _, ck := range resp.Cookies() {
		switch ck.Name {
		case "mlflow_ds":
			ds = ck
		case "mlflow_dsr":
			dsr = ck
		}
	}
	if ds == nil || dsr == nil {
		t.Fatalf("cookies = %v, want session and refresh cookies", resp.Cookies())
	}
	for _, ck := range []*http.Cookie{ds, dsr} {
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
			t.Errorf("cookie %s: HttpOnly=%v SameSite=%v Path=%q", ck.Name, ck.HttpOnly, ck.SameSite, ck.Path)
		}
	}
	r2, body := do(t, c, "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search?max_results=1", nil, "")
	if r2.StatusCode != 200 {
		t.Fatalf("proxied status %d: %s", r2.StatusCode, body)
	}
	got := h.up.last(t)
	// The MLflow username is the login ID (MLFLOW_DESCOPE_USERNAME's
	// default), not the user ID.
	if got.Subject != "U2alice@example.com" {
		t.Errorf("MLflow saw user %q, want U2alice@example.com", got.Subject)
	}
	if got.Header.Get("Cookie") != "" || got.Header.Get("Authorization") != "" {
		t.Errorf("secrets reached MLflow: Cookie=%q Authorization=%q", got.Header.Get("Cookie"), got.Header.Get("Authorization"))
	}
	if got.Header.Get("X-Request-Id") == "" || got.Header.Get("X-Forwarded-For") != "unknown" {
		t.Errorf("forwarding headers: X-Request-Id=%q X-Forwarded-For=%q", got.Header.Get("X-Request-Id"), got.Header.Get("X-Forwarded-For"))
	}

	// whoami and the banner.
	_, who := do(t, c, "GET", h.gw.URL+"/auth/whoami", nil, "")
	if !strings.Contains(who, `"display_name":"User U2alice"`) || !strings.Contains(who, `"username":"U2alice@example.com"`) || !strings.Contains(who, `"user_id":"U2alice"`) {
		t.Errorf("whoami = %s", who)
	}
	_, page := do(t, c, "GET", h.gw.URL+"/", map[string]string{"Accept": "text/html"}, "")
	if !strings.Contains(page, `/auth/static/banner.js`) || !strings.Contains(page, "<div id=root>") {
		t.Errorf("UI page without banner or body: %s", page)
	}
}

func TestSignInRejects(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2alice")
	h.user(t, "U2bob")
	sess, ref := h.mint(t, "U2alice", descopesim.MintOptions{})
	_, bobRef := h.mint(t, "U2bob", descopesim.MintOptions{})
	big, _ := h.mint(t, "U2alice", descopesim.MintOptions{ExtraClaims: map[string]any{"padding": strings.Repeat("x", 4000)}})
	tests := []struct {
		name   string
		body   string
		hdr    map[string]string
		status int
	}{
		{"cross origin", `{"sessionJwt":"` + sess + `"}`, map[string]string{"Origin": "https://evil.example", "Content-Type": "application/json"}, http.StatusForbidden},
		{"no origin", `{"sessionJwt":"` + sess + `"}`, map[string]string{"Content-Type": "application/json"}, http.StatusForbidden},
		{"form post", `sessionJwt=` + sess, map[string]string{"Origin": h.gw.URL, "Content-Type": "application/x-www-form-urlencoded"}, http.StatusBadRequest},
		{"refresh as session", `{"sessionJwt":"` + ref + `"}`, map[string]string{"Origin": h.gw.URL, "Content-Type": "application/json"}, http.StatusUnauthorized},
		{"mismatched pair", `{"sessionJwt":"` + sess + `","refreshJwt":"` + bobRef + `"}`, map[string]string{"Origin": h.gw.URL, "Content-Type": "application/json"}, http.StatusUnauthorized},
		{"unknown field", `{"sessionJwt":"` + sess + `","admin":true}`, map[string]string{"Origin": h.gw.URL, "Content-Type": "application/json"}, http.StatusBadRequest},
		{"two objects", `{"sessionJwt":"` + sess + `"}{}`, map[string]string{"Origin": h.gw.URL, "Content-Type": "application/json"}, http.StatusBadRequest},
		{"too large for a cookie", `{"sessionJwt":"` + big + `"}`, map[string]string{"Origin": h.gw.URL, "Content-Type": "application/json"}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := browser(t)
			resp, body := do(t, c, "POST", h.gw.URL+"/auth/session", tt.hdr, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if len(resp.Cookies()) != 0 {
				t.Errorf("cookies set on a refused sign-in: %v", resp.Cookies())
			}
		})
	}
}

func TestRefreshOnceForConcurrentRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2carol")
	h.sim.SetRefreshRotation(true)
	sess, ref := h.mint(t, "U2carol", descopesim.MintOptions{SessionTTL: 2 * time.Second})
	c := browser(t)
	h.signIn(t, c, sess, ref).Body.Close()
	time.Sleep(2*time.Second + 5100*time.Millisecond/1) // past exp plus the verifier's leeway
	h.sim.ResetCounts()

	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := do(t, c, "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", nil, "")
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("request %d: status %d", i, s)
		}
	}
	if n := h.sim.Count("/v1/auth/refresh"); n != 1 {
		t.Errorf("refresh calls = %d, want exactly 1", n)
	}
	// The rotated refresh token was kept: a later request still works.
	resp, body := do(t, c, "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", nil, "")
	if resp.StatusCode != 200 {
		t.Errorf("after refresh: %d %s", resp.StatusCode, body)
	}
}

func TestRevokedRefreshEndsSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2dave")
	sess, ref := h.mint(t, "U2dave", descopesim.MintOptions{SessionTTL: -time.Minute})
	if err := h.sim.RevokeRefresh(ref); err != nil {
		t.Fatal(err)
	}
	c := browser(t)
	u, _ := url.Parse(h.gw.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "mlflow_ds", Value: sess, Path: "/"}, {Name: "mlflow_dsr", Value: ref, Path: "/"}})
	resp, body := do(t, c, "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", nil, "")
	if resp.StatusCode != http.StatusUnauthorized || errorCode(t, body) != "UNAUTHENTICATED" {
		t.Fatalf("status %d %s, want 401 UNAUTHENTICATED", resp.StatusCode, body)
	}
	if len(c.Jar.Cookies(u)) != 0 {
		t.Errorf("cookies not cleared: %v", c.Jar.Cookies(u))
	}
}

func TestDescopeDownDuringRefreshKeepsSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2erin")
	sess, ref := h.mint(t, "U2erin", descopesim.MintOptions{SessionTTL: -time.Minute})
	c := browser(t)
	u, _ := url.Parse(h.gw.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "mlflow_ds", Value: sess, Path: "/"}, {Name: "mlflow_dsr", Value: ref, Path: "/"}})
	for _, f := range []descopesim.Fault{
		{PathPrefix: "/v1/auth/refresh", Status: 503, Times: 1},
		{PathPrefix: "/v1/auth/refresh", Status: 429, RetryAfter: 7, Times: 1},
	} {
		if err := h.sim.InjectFault(f); err != nil {
			t.Fatal(err)
		}
		resp, body := do(t, c, "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", nil, "")
		if resp.StatusCode != http.StatusServiceUnavailable || errorCode(t, body) != "TEMPORARILY_UNAVAILABLE" {
			t.Fatalf("fault %d: status %d %s, want 503", f.Status, resp.StatusCode, body)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("fault %d: no Retry-After", f.Status)
		}
		if len(c.Jar.Cookies(u)) != 2 {
			t.Fatalf("fault %d: cookies dropped: %v", f.Status, c.Jar.Cookies(u))
		}
	}
	resp, body := do(t, c, "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", nil, "")
	if resp.StatusCode != 200 {
		t.Errorf("after Descope recovered: %d %s", resp.StatusCode, body)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2frank")
	sess, ref := h.mint(t, "U2frank", descopesim.MintOptions{})
	c := browser(t)
	h.signIn(t, c, sess, ref).Body.Close()
	// A GET (a link from anywhere) only asks; a cross-site POST is refused.
	resp, body := do(t, c, "GET", h.gw.URL+"/auth/logout", map[string]string{"Accept": "text/html"}, "")
	if resp.StatusCode != 200 || !strings.Contains(body, `method="post"`) {
		t.Fatalf("logout confirmation: %d %s", resp.StatusCode, body)
	}
	resp, _ = do(t, c, "POST", h.gw.URL+"/auth/logout", map[string]string{"Origin": "https://evil.example"}, "")
	if resp.StatusCode != http.StatusForbidden || h.sim.Count("/v1/auth/logout") != 0 {
		t.Fatalf("cross-site sign-out: %d, Descope logouts %d", resp.StatusCode, h.sim.Count("/v1/auth/logout"))
	}
	if r, _ := do(t, c, "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", nil, ""); r.StatusCode != 200 {
		t.Fatalf("session gone after a refused sign-out: %d", r.StatusCode)
	}
	resp, body = do(t, c, "POST", h.gw.URL+"/auth/logout", map[string]string{"Origin": h.gw.URL, "Accept": "text/html"}, "")
	if resp.StatusCode != 200 || !strings.Contains(body, "/auth/login") {
		t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
	if h.sim.Count("/v1/auth/logout") != 1 {
		t.Errorf("Descope logout calls = %d, want 1", h.sim.Count("/v1/auth/logout"))
	}
	// The old cookies, replayed, no longer work.
	replay := browser(t)
	u, _ := url.Parse(h.gw.URL)
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: "mlflow_ds", Value: sess, Path: "/"}, {Name: "mlflow_dsr", Value: ref, Path: "/"}})
	r2, b2 := do(t, replay, "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", nil, "")
	if r2.StatusCode != http.StatusUnauthorized {
		t.Errorf("replayed cookies after logout: %d %s", r2.StatusCode, b2)
	}
	r3, _ := do(t, browser(t), "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", map[string]string{"Authorization": "Bearer " + sess}, "")
	if r3.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed-out session JWT as bearer: %d", r3.StatusCode)
	}
}
