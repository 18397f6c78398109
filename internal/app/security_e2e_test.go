package app_test

// Security suite against the real gateway and a real MLflow (issue 7,
// "Checked by"). Every case is an attack that must fail: the status is never
// 200, API clients get an MLflow-shaped JSON error, and where the attack
// targets data, the data is read back afterwards as its owner or an admin and
// must be unchanged. docs/security.md is the threat model these cases check.
//
// The suites are split by family across security_*_test.go; this file holds
// the shared environment: one stack per test function, three Descope users
// (alice owns the data, bob is a READ-only user, root is an MLflow admin), and
// a raw HTTP client that sends exactly the bytes a case names.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// secUser is a Descope user with a live session.
type secUser struct {
	id      string
	login   string
	session string
	refresh string
}

// secEnv is one stack plus the users and data the cases attack.
type secEnv struct {
	t    *testing.T
	st   *stack
	host string // host:port of the gateway
	// sources numbers the loopback source addresses handed out.
	sources atomic.Uint32
	alice   secUser
	bob     secUser
	root    secUser
	// issued are the suite users' tokens remint handed out.
	issued []string
}

// newSecEnv starts a stack and signs up alice (owner), bob (READ-only) and
// root (Descope role "admin", so an MLflow admin).
func newSecEnv(t *testing.T, env ...string) *secEnv {
	t.Helper()
	st := startStack(t, env...)
	u, err := url.Parse(st.url)
	if err != nil {
		t.Fatal(err)
	}
	e := &secEnv{t: t, st: st, host: u.Host}
	e.alice = e.newUser("U2SecAlice000000000000001", "alice@example.com")
	e.bob = e.newUser("U2SecBob00000000000000001", "bob@example.com")
	e.root = e.newUser("U2SecRoot0000000000000001", "root@example.com", "admin")
	return e
}

func (e *secEnv) newUser(id, login string, roles ...string) secUser {
	e.t.Helper()
	if err := e.st.sim.CreateUser(descopesim.User{ID: id, LoginIDs: []string{login}, Email: login, Name: strings.Split(login, "@")[0], Roles: roles}); err != nil {
		e.t.Fatalf("create user %s: %v", login, err)
	}
	s, r := e.mint(id, descopesim.MintOptions{SessionTTL: time.Hour})
	return secUser{id: id, login: login, session: s, refresh: r}
}

func (e *secEnv) mint(id string, o descopesim.MintOptions) (session, refresh string) {
	e.t.Helper()
	s, r, err := e.st.sim.MintSession(id, o)
	if err != nil {
		e.t.Fatalf("mint %s: %v", id, err)
	}
	return s, r
}

// origin is the gateway's own origin, as a browser on it would send it.
func (e *secEnv) origin() string { return "http://" + e.host }

// hdr is one raw header line; the name is sent exactly as written.
type hdr struct{ k, v string }

func bearer(tok string) hdr { return hdr{"Authorization", "Bearer " + tok} }

var jsonCT = hdr{"Content-Type", "application/json"}

// resp is what came back.
type resp struct {
	from   string // the source address used
	status int
	header http.Header
	body   []byte
}

func (r resp) String() string {
	b := r.body
	if len(b) > 300 {
		b = append(b[:300:300], "…"...)
	}
	return fmt.Sprintf("%d %s", r.status, b)
}

// raw sends one HTTP/1.1 request with exactly this request target, these
// header lines (in order, names unchanged, duplicates kept) and this body.
// Content-Length is added for a non-nil body unless a header sets it or
// Transfer-Encoding.
func (e *secEnv) raw(method, target string, headers []hdr, body []byte) resp {
	e.t.Helper()
	return e.rawAt(e.host, method, target, headers, body)
}

// rawAt is raw against another server (MLflow's private port).
func (e *secEnv) rawAt(host, method, target string, headers []hdr, body []byte) resp {
	e.t.Helper()
	from := e.nextSource()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: from}}
	conn, err := d.Dial("tcp", host)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	hostLine := host
	for _, h := range headers {
		if strings.EqualFold(h.k, "Host") {
			hostLine = h.v // a case that forges Host
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nUser-Agent: security-e2e\r\n", method, target, hostLine)
	hasLen := false
	for _, h := range headers {
		if strings.EqualFold(h.k, "Content-Length") || strings.EqualFold(h.k, "Transfer-Encoding") {
			hasLen = true
		}
		if strings.EqualFold(h.k, "Host") {
			continue // one Host line, set above
		}
		fmt.Fprintf(&b, "%s: %s\r\n", h.k, h.v)
	}
	if body != nil && !hasLen {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	go func() { _, _ = conn.Write(b.Bytes()) }() // a large body may be refused before it is read
	rd := bufio.NewReader(conn)
	res, err := http.ReadResponse(rd, &http.Request{Method: method})
	if err != nil {
		e.t.Fatalf("%s %s: read response: %v", method, trunc(target, 120), err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	return resp{status: res.StatusCode, header: res.Header, body: data, from: from.String()}
}

// nextSource is a fresh loopback source address (127.0.1.1, 127.0.1.2, …)
// for every request. The gateway rate-limits failed authentications per
// client address; an attacker with many addresses is the harder case, and a
// suite of a hundred failures from one address would test the limiter
// instead of the rules behind it.
func (e *secEnv) nextSource() net.IP {
	n := e.sources.Add(1)
	return net.IPv4(127, byte(1+n/250), byte(n%250+1), 1).To4()
}

// api sends a request as a user (empty token: anonymous) with a JSON body.
func (e *secEnv) api(tok, method, target string, body any, extra ...hdr) resp {
	e.t.Helper()
	var hs []hdr
	if tok != "" {
		hs = append(hs, bearer(tok))
	}
	var data []byte
	switch b := body.(type) {
	case nil:
	case string:
		data = []byte(b)
		hs = append(hs, jsonCT)
	case []byte:
		data = b
		hs = append(hs, jsonCT)
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
		hs = append(hs, jsonCT)
	}
	return e.raw(method, target, append(hs, extra...), data)
}

// must performs a setup call that has to succeed and decodes its JSON.
func (e *secEnv) must(tok, method, target string, body any) map[string]any {
	e.t.Helper()
	r := e.api(tok, method, target, body)
	if r.status != http.StatusOK {
		e.t.Fatalf("setup %s %s: %s", method, target, r)
	}
	out := map[string]any{}
	if len(r.body) > 0 {
		if err := json.Unmarshal(r.body, &out); err != nil {
			e.t.Fatalf("setup %s %s: %v: %s", method, target, err, r.body)
		}
	}
	return out
}

// data is what alice owns: an experiment with a tag, a run with a param and
// tag, a registered model, and an artifact. bob owns a run of his own, so
// ambiguous requests can name one of each.
type secData struct {
	expID, expName string
	runID          string
	model          string
	bobExpID       string
	bobRunID       string
	bobModel       string
}

func (e *secEnv) seed() secData {
	e.t.Helper()
	a, b := e.alice.session, e.bob.session
	d := secData{expName: "alice-secret-exp", model: "alice-model", bobModel: "bob-model"}
	d.expID = str(e.must(a, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": d.expName}), "experiment_id")
	e.must(a, "POST", "/api/2.0/mlflow/experiments/set-experiment-tag", map[string]any{"experiment_id": d.expID, "key": "owner", "value": "alice"})
	run := e.must(a, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": d.expID, "run_name": "alice-run"})
	d.runID = str(run["run"].(map[string]any)["info"].(map[string]any), "run_id")
	e.must(a, "POST", "/api/2.0/mlflow/runs/log-parameter", map[string]any{"run_id": d.runID, "key": "lr", "value": "0.1"})
	e.must(a, "POST", "/api/2.0/mlflow/runs/set-tag", map[string]any{"run_id": d.runID, "key": "stage", "value": "clean"})
	e.must(a, "POST", "/api/2.0/mlflow/runs/log-metric", map[string]any{"run_id": d.runID, "key": "acc", "value": 0.5, "timestamp": 1, "step": 0})
	e.must(a, "POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": d.model, "description": "alice's model"})
	art := e.raw("PUT", "/api/2.0/mlflow-artifacts/artifacts/"+d.expID+"/"+d.runID+"/artifacts/model.txt",
		[]hdr{bearer(a), {"Content-Type", "application/octet-stream"}}, []byte("alice artifact v1"))
	if art.status != http.StatusOK {
		e.t.Fatalf("setup artifact upload: %s", art)
	}
	d.bobExpID = str(e.must(b, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "bob-exp"}), "experiment_id")
	brun := e.must(b, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": d.bobExpID})
	d.bobRunID = str(brun["run"].(map[string]any)["info"].(map[string]any), "run_id")
	e.must(b, "POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": d.bobModel})
	return d
}

// snapshot reads everything alice owns, as root, in a stable form.
func (e *secEnv) snapshot(d secData) string {
	e.t.Helper()
	r := e.root.session
	var parts []string
	exp := e.must(r, "GET", "/api/2.0/mlflow/experiments/get?experiment_id="+d.expID, nil)
	delete(exp["experiment"].(map[string]any), "last_update_time")
	run := e.must(r, "GET", "/api/2.0/mlflow/runs/get?run_id="+d.runID, nil)
	info := run["run"].(map[string]any)["info"].(map[string]any)
	delete(info, "end_time") // unset, but be safe
	model := e.must(r, "GET", "/api/2.0/mlflow/registered-models/get?name="+d.model, nil)
	delete(model["registered_model"].(map[string]any), "last_updated_timestamp")
	arts := e.must(r, "GET", "/api/2.0/mlflow/artifacts/list?run_id="+d.runID, nil)
	content := e.api(r, "GET", "/get-artifact?path=model.txt&run_id="+d.runID, nil)
	users := e.must(r, "GET", "/api/2.0/mlflow/users/get?username="+e.bob.login, nil)
	for _, v := range []any{exp, run, model, arts, string(content.body), users} {
		b, _ := json.Marshal(v)
		parts = append(parts, string(b))
	}
	return strings.Join(parts, "\n")
}

// untouched fails the test when alice's data (or bob's admin flag) changed.
func (e *secEnv) untouched(d secData, before string) {
	e.t.Helper()
	if after := e.snapshot(d); after != before {
		e.t.Errorf("DATA CHANGED by an attack:\nbefore: %s\nafter:  %s", before, after)
	}
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	if s == "" {
		panic(fmt.Sprintf("no %q in %v", k, m))
	}
	return s
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// refused checks an attack's answer: one of the wanted statuses (never
// 2xx/3xx unless asked), and, when jsonErr, an MLflow-shaped JSON error
// {"error_code", "message"}.
func refused(t *testing.T, r resp, jsonErr bool, want ...int) {
	t.Helper()
	ok := false
	for _, w := range want {
		if r.status == w {
			ok = true
		}
	}
	if !ok {
		t.Errorf("status %d, want one of %v: %s", r.status, want, r)
	}
	if r.status >= 200 && r.status < 300 {
		t.Errorf("attack succeeded: %s", r)
	}
	if jsonErr {
		mlflowError(t, r)
	}
}

// mlflowError checks the body is {"error_code": …, "message": …}.
func mlflowError(t *testing.T, r resp) {
	t.Helper()
	var body struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Code == "" || body.Message == "" {
		t.Errorf("not an MLflow-shaped JSON error (Content-Type %q): %s", r.header.Get("Content-Type"), r)
	}
}

// mlflowUpstream is the private address of the supervised MLflow, from the
// gateway's log.
func (e *secEnv) mlflowUpstream() string {
	e.t.Helper()
	m := regexp.MustCompile(`mlflow started.*url=(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(e.st.logs.String())
	if m == nil {
		e.t.Fatal("no MLflow URL in the gateway log")
	}
	return m[1]
}

// bootstrapAdmin reads MLflow's bootstrap admin credentials from the auth
// INI the launcher wrote, as a local attacker with file access would.
func (e *secEnv) bootstrapAdmin() (user, pass string) {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.st.dir, "data", "mlflow", "basic_auth.ini"))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "admin_username":
			user = strings.TrimSpace(v)
		case "admin_password":
			pass = strings.ReplaceAll(strings.TrimSpace(v), "%%", "%")
		}
	}
	if user == "" || pass == "" {
		e.t.Fatal("no bootstrap admin in basic_auth.ini")
	}
	return user, pass
}

// signIn moves a session into cookies through the real /auth/session and
// returns the cookie header value.
func (e *secEnv) signIn(u secUser) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"sessionJwt": u.session, "refreshJwt": u.refresh})
	r := e.raw("POST", "/auth/session", []hdr{jsonCT, {"Origin", e.origin()}}, body)
	if r.status != http.StatusOK {
		e.t.Fatalf("sign-in: %s", r)
	}
	var cookies []string
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Value != "" {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
	}
	if len(cookies) != 2 {
		e.t.Fatalf("sign-in set %d cookies", len(cookies))
	}
	return strings.Join(cookies, "; ")
}
