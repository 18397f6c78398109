package selfservice_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gatewaytest"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/observe"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/selfservice"
)

// clock is a settable time for the self-service state (code expiry, poll
// intervals); the gateway and the simulator keep real time.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// recorder keeps the audit events the gateway's events become (the
// audit trail's own mapping, internal/observe).
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *recorder) Record(e audit.Event) bool {
	if err := e.Validate(); err != nil {
		panic(err) // a test bug: an event the store refuses
	}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	return true
}

// find returns the events of an action (and reason, if given).
func (r *recorder) find(action audit.Action, reason string) []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Event
	for _, e := range r.events {
		if e.Action == action && (reason == "" || e.Reason == reason) {
			out = append(out, e)
		}
	}
	return out
}

// env is the real gateway (app.New through gatewaytest: simulator
// in-process, fake MLflow), which mounts its self-service handler.
type env struct {
	gw    *gatewaytest.Gateway
	svc   *selfservice.Service
	dc    *descope.Client // the test's own view of Descope
	clock *clock
	audit *recorder
	opts  gatewaytest.Options // for another replica
	// prefix is MLflow's static prefix, under which the pages live.
	prefix string
}

type envOptions struct {
	// env are configuration lines (MLFLOW_DESCOPE_MAX_KEYS_PER_USER=2…).
	env []string
	// prefix runs MLflow, and the gateway's pages, under a static prefix.
	prefix string
	// noManagementKey runs the gateway without DESCOPE_MANAGEMENT_KEY.
	noManagementKey bool
	// limits replaces the service's abuse limits.
	limits func(*selfservice.Limits)
	// wrap replaces the Descope client the service uses.
	wrap func(selfservice.Descope) selfservice.Descope
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{clock: &clock{}, audit: &recorder{}, prefix: o.prefix}
	sink, err := observe.New(observe.Options{Recorder: e.audit})
	if err != nil {
		t.Fatal(err)
	}
	// The gateway's database in a known place: another replica shares it.
	lines := []string{"MLFLOW_DESCOPE_AUDIT_DB=" + filepath.Join(t.TempDir(), "gateway.db")}
	if o.prefix != "" {
		lines = append(lines, "MLFLOW_DESCOPE_STATIC_PREFIX="+o.prefix)
	}
	e.opts = gatewaytest.Options{
		Env:             append(lines, o.env...),
		NoManagementKey: o.noManagementKey,
		Events:          sink,
		SelfServiceOptions: func(so *selfservice.Options) {
			so.Now = e.clock.now
			if o.limits != nil {
				o.limits(&so.Limits)
			}
			if o.wrap != nil {
				so.Descope = o.wrap(so.Descope)
			}
		},
	}
	e.gw = gatewaytest.New(t, e.opts)
	e.svc = e.gw.App.SelfService()
	e.dc = e.gw.Management(t)
	return e
}

// replica starts another gateway on the same simulator, database and
// MLflow, as a second replica behind a load balancer.
func (e *env) replica(t *testing.T) *gatewaytest.Gateway {
	t.Helper()
	o := e.opts
	o.Sim, o.MLflow = e.gw.Sim, e.gw.MLflow
	return gatewaytest.New(t, o)
}

// user creates a Descope user.
func (e *env) user(t *testing.T, id string, roles ...string) {
	t.Helper()
	e.gw.User(t, id, roles...)
}

// client is an HTTP client that does not follow redirects; with a cookie
// jar it is a signed-in browser.
type client struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (e *env) anonymous(t *testing.T) *client {
	return &client{t: t, base: e.gw.URL, c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// browser signs userID in through /auth/session, as the login page does.
func (e *env) browser(t *testing.T, userID string) *client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := e.anonymous(t)
	c.c.Jar = jar
	sess, ref := e.gw.Mint(t, userID, descopesim.MintOptions{})
	body, _ := json.Marshal(map[string]string{"sessionJwt": sess, "refreshJwt": ref, "next": e.prefix + "/"})
	resp, _ := c.do(http.MethodPost, e.prefix+"/auth/session", map[string]string{"Content-Type": "application/json", "Origin": e.gw.URL}, string(body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in %s: status %d", userID, resp.StatusCode)
	}
	return c
}

func (c *client) do(method, path string, hdr map[string]string, body string) (*http.Response, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	target := path
	if !strings.HasPrefix(path, "http") {
		target = c.base + path
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) get(path string) (*http.Response, string) {
	return c.do(http.MethodGet, path, map[string]string{"Accept": "text/html"}, "")
}

// post sends a form as a page on the gateway's origin would.
func (c *client) post(path string, form url.Values) (*http.Response, string) {
	return c.postFrom(c.base, path, form)
}

// postFrom sends a form with the given Origin header ("" for none).
func (c *client) postFrom(origin, path string, form url.Values) (*http.Response, string) {
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
	if origin != "" {
		h["Origin"] = origin
	}
	return c.do(http.MethodPost, path, h, form.Encode())
}

// api posts JSON as the CLI does.
func (c *client) api(path string, body any) (*http.Response, map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	resp, text := c.do(http.MethodPost, path, map[string]string{"Content-Type": "application/json"}, string(b))
	var out map[string]any
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		c.t.Fatalf("%s: status %d, body %q is not JSON", path, resp.StatusCode, text)
	}
	return resp, out
}

// pkce returns a verifier and its S256 challenge.
func pkce(seed string) (verifier, challenge string) {
	seedSum := sha256.Sum256([]byte(seed))
	verifier = base64.RawURLEncoding.EncodeToString(seedSum[:]) + "-verifier"
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// mlflowAs calls the gateway's MLflow API with an access key and returns the
// status and the user the fake MLflow saw.
func (e *env) mlflowAs(t *testing.T, key string) (int, string) {
	t.Helper()
	resp, body := e.anonymous(t).do(http.MethodGet, "/api/2.0/mlflow/experiments/search?max_results=1",
		map[string]string{"Authorization": "Bearer " + key}, "")
	var out struct {
		User string `json:"user"`
	}
	_ = json.Unmarshal([]byte(body), &out)
	return resp.StatusCode, out.User
}
