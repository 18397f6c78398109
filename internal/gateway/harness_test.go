package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/dpop"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/session"
)

const testSecret = "0123456789abcdef0123456789abcdef-test"

// seen is one request as the fake MLflow received it.
type seen struct {
	Method  string
	Path    string
	RawPath string
	Header  http.Header
	Body    string
	Subject string // from a valid assertion; "" if none or invalid
}

// upstream is a fake MLflow that records what reaches it.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []seen
	page string // served for GET /
}

func newUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{page: "<html><head><title>MLflow</title></head><body><div id=root></div></body></html>"}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s := seen{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, Header: r.Header.Clone(), Body: string(body)}
		if c, err := assertion.Verify([]byte(testSecret), r.Header.Get(assertion.Header), time.Now()); err == nil {
			s.Subject = c.Subject
		}
		u.mu.Lock()
		u.reqs = append(u.reqs, s)
		u.mu.Unlock()
		if s.Subject == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error_code":"UNAUTHENTICATED","message":"no assertion"}`)
			return
		}
		if r.URL.Path == "/" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, u.page)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"user": s.Subject, "path": r.URL.Path})
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) last(t testing.TB) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("no request reached the upstream")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

type harness struct {
	sim      *descopesim.Server
	up       *upstream
	gw       *httptest.Server
	sessions *session.Manager
	keys     *accesskey.Authenticator
	opts     Options
}

type harnessOpts struct {
	prefix string
	// realistic uses production settings: the default forced-JWKS interval
	// and the default exchange limits (tests otherwise refetch freely).
	realistic bool
	limits    Limits
	upstream  http.Handler // replaces the recording fake MLflow
	noMgmtKey bool
	observer  Observer
	prov      Provisioner
	// cookieNames renames Descope's cookies (and drn) on both sides.
	cookieNames descope.CookieNames
}

func newHarness(t testing.TB, ho harnessOpts) *harness {
	t.Helper()
	sim, err := descopesim.New(descopesim.Options{ProjectID: "P2GatewayTest0001", Delivery: descopesim.TokenDelivery{
		SessionCookieName: ho.cookieNames.Session, RefreshCookieName: ho.cookieNames.Refresh}})
	if err != nil {
		t.Fatalf("descopesim: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	mk := descope.Secret(sim.ManagementKey())
	if ho.noMgmtKey {
		mk = ""
	}
	dc, err := descope.New(descope.Options{BaseURL: sim.URL(), ProjectID: sim.ProjectID(), ManagementKey: mk, CookieNames: ho.cookieNames})
	if err != nil {
		t.Fatal(err)
	}
	forced := time.Millisecond
	if ho.realistic {
		forced = 0 // the default
	}
	keys, err := descope.NewKeys(dc, descope.KeysOptions{ForcedInterval: forced})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Refresh(context.Background()); err != nil {
		t.Fatalf("keys: %v", err)
	}
	verifier, err := descope.NewVerifier(keys, descope.VerifierOptions{CookieNames: ho.cookieNames})
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := session.NewManager(session.Options{Verifier: verifier, Refresher: dc})
	if err != nil {
		t.Fatal(err)
	}
	akOpts := accesskey.Options{Descope: dc, Verifier: verifier}
	if ho.realistic {
		akOpts.AllowExchange = accesskey.DefaultExchangeLimits(nil)
	}
	ak, err := accesskey.New(akOpts)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := assertion.NewSigner([]byte(testSecret), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	up := newUpstream(t)
	if ho.upstream != nil {
		deny := httptest.NewServer(ho.upstream)
		t.Cleanup(deny.Close)
		up.srv = deny
	}
	upURL, _ := url.Parse(up.srv.URL)
	opts := Options{
		ProjectID:       sim.ProjectID(),
		FlowID:          "sign-up-or-in",
		WebComponentURL: sim.URL() + "/sim/web-component.js",
		DescopeBaseURL:  sim.URL(),
		StaticPrefix:    ho.prefix,
		AdminRoles:      []string{"admin", "mlflow-admin"},
		AdminUsername:   "mlflow-descope-auth-admin",
		Upstream:        upURL,
		Verifier:        verifier,
		Descope:         dc,
		Sessions:        sessions,
		Keys:            ak,
		Provisioner:     ho.prov,
		Signer:          signer,
		Observer:        ho.observer,
		Limits:          ho.limits,
		KeysReady:       keys.Ready,
		Logger:          slog.New(slog.DiscardHandler),
		DescopeCookies:  ho.cookieNames,
		DPoP:            dpop.New(dpop.Options{}),
	}
	gw := httptest.NewUnstartedServer(nil)
	opts.LocalOrigins = []string{"http://" + gw.Listener.Addr().String()}
	h, err := New(opts)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	gw.Config.Handler = h
	gw.Start()
	t.Cleanup(gw.Close)
	return &harness{sim: sim, up: up, gw: gw, sessions: sessions, keys: ak, opts: opts}
}

// withOptions starts a second gateway on the same simulator and upstream,
// with changed options, and returns its URL.
func (h *harness) withOptions(t testing.TB, change func(*Options)) string {
	t.Helper()
	o := h.opts
	change(&o)
	srv := httptest.NewUnstartedServer(nil)
	o.LocalOrigins = []string{"http://" + srv.Listener.Addr().String()}
	handler, err := New(o)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	srv.Config.Handler = handler
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// user creates a Descope user in the simulator.
func (h *harness) user(t testing.TB, id string, roles ...string) descopesim.User {
	t.Helper()
	u := descopesim.User{ID: id, LoginIDs: []string{id + "@example.com"}, Email: id + "@example.com", Name: "User " + id, Roles: roles}
	if err := h.sim.CreateUser(u); err != nil {
		t.Fatalf("create user: %v", err)
	}
	return u
}

func (h *harness) mint(t testing.TB, userID string, o descopesim.MintOptions) (string, string) {
	t.Helper()
	s, r, err := h.sim.MintSession(userID, o)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return s, r
}

// browser is an HTTP client with a cookie jar that does not follow redirects.
func browser(t testing.TB) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn posts tokens to /auth/session like the login page does.
func (h *harness) signIn(t testing.TB, c *http.Client, sessionJWT, refreshJWT string) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"sessionJwt": sessionJWT, "refreshJwt": refreshJWT, "next": "/#/experiments"})
	req, _ := http.NewRequest(http.MethodPost, h.gw.URL+"/auth/session", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", h.gw.URL)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func do(t testing.TB, c *http.Client, method, url string, hdr map[string]string, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return send(t, c, req)
}

// doReq sends a prepared request (for raw paths) with headers and a body.
func doReq(t testing.TB, req *http.Request, hdr map[string]string, body string) (*http.Response, string) {
	t.Helper()
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if body != "" {
		req.Body = io.NopCloser(strings.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	return send(t, http.DefaultClient, req)
}

func send(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func errorCode(t testing.TB, body string) string {
	t.Helper()
	var e struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("body %q is not MLflow error JSON: %v", body, err)
	}
	if e.Message == "" {
		t.Errorf("error without a message: %s", body)
	}
	return e.Code
}
