package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gatewaytest"
)

// testSecret is the assertion secret the gateway and the fake MLflow share.
const testSecret = gatewaytest.Secret

// seen is one request as the fake MLflow received it.
type seen struct {
	Method  string
	Path    string
	RawPath string
	Header  http.Header
	Body    string
	Subject string // from a valid assertion; "" if none or invalid
}

// upstream is a fake MLflow that records what reaches it (the gateway's own
// admin API calls, which gatewaytest answers, excepted).
type upstream struct {
	url  string
	mu   sync.Mutex
	reqs []seen
	page string // served for GET /
}

func newUpstream() *upstream {
	return &upstream{page: "<html><head><title>MLflow</title></head><body><div id=root></div></body></html>"}
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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

// harness is the real gateway (gatewaytest, app.New) in front of the
// recording upstream.
type harness struct {
	sim  *descopesim.Server
	up   *upstream
	ml   *gatewaytest.MLflow
	gw   *gatewaytest.Gateway
	keys *accesskey.Authenticator
	ho   harnessOpts
}

type harnessOpts struct {
	prefix string
	// realistic uses production settings: the default forced-JWKS interval
	// and the default exchange limits (tests otherwise refetch freely).
	realistic bool
	limits    gateway.Limits
	upstream  http.Handler // replaces the recording fake MLflow
	noMgmtKey bool
	env       []string // configuration lines (KEY=VALUE)
}

func newHarness(t testing.TB, ho harnessOpts) *harness {
	t.Helper()
	h := &harness{up: newUpstream(), ho: ho}
	var tracking http.Handler = h.up
	if ho.upstream != nil {
		tracking = ho.upstream
	}
	h.ml = gatewaytest.NewMLflow(t, tracking, 0, false)
	h.up.url = h.ml.URL
	h.gw = h.start(t)
	h.sim = h.gw.Sim
	h.keys = h.gw.App.AccessKeys()
	return h
}

// start runs a gateway on the harness's simulator (a new one the first
// time) and upstream, with the harness's options and env added.
func (h *harness) start(t testing.TB, env ...string) *gatewaytest.Gateway {
	t.Helper()
	ho := h.ho
	if ho.prefix != "" {
		env = append(env, "MLFLOW_DESCOPE_STATIC_PREFIX="+ho.prefix)
	}
	return gatewaytest.New(t, gatewaytest.Options{
		Env:             append(append([]string(nil), ho.env...), env...),
		Sim:             h.sim,
		MLflow:          h.ml,
		Limits:          ho.limits,
		Realistic:       ho.realistic,
		NoManagementKey: ho.noMgmtKey,
	})
}

// withEnv starts a second gateway on the same simulator and upstream, with
// more configuration lines.
func (h *harness) withEnv(t testing.TB, env ...string) *gatewaytest.Gateway {
	t.Helper()
	return h.start(t, env...)
}

// user creates a Descope user in the simulator.
func (h *harness) user(t testing.TB, id string, roles ...string) descopesim.User {
	t.Helper()
	return h.gw.User(t, id, roles...)
}

func (h *harness) mint(t testing.TB, userID string, o descopesim.MintOptions) (string, string) {
	t.Helper()
	return h.gw.Mint(t, userID, o)
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
