package app_test

// Issue 15, part 3: MLflow 3.17.2's assistant trusts any request whose
// client address is loopback, and uvicorn takes that address from the
// X-Forwarded-For the gateway sends. Behind a reverse proxy on the same host
// (no MLFLOW_DESCOPE_TRUSTED_PROXIES), or for anyone the gateway sees on
// loopback, every signed-in user was "local": a non-admin changed the
// assistant's configuration. Now no request through the gateway looks local
// to MLflow, and the assistant's setup routes are for admins only.

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
)

// localOperator acts on MLflow's private port from loopback with a genuine
// assertion: what MLflow rightly takes for its local operator.
type localOperator struct {
	e    *secEnv
	host string
	tok  string
}

func newLocalOperator(t *testing.T, e *secEnv, username string) localOperator {
	t.Helper()
	up, err := url.Parse(e.mlflowUpstream())
	if err != nil {
		t.Fatal(err)
	}
	s, err := assertion.NewSigner([]byte(secAssertionSecret), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(username, "local-operator")
	if err != nil {
		t.Fatal(err)
	}
	return localOperator{e: e, host: up.Host, tok: tok}
}

func (o localOperator) do(method, target string, body []byte) resp {
	hs := []hdr{{"X-Mlflow-Descope-Assertion", o.tok}}
	if body != nil {
		hs = append(hs, jsonCT)
	}
	return o.e.rawAt(o.host, method, target, hs, body)
}

// sameHostProxy is a reverse proxy in front of the gateway on the same
// host, as nginx with proxy_add_x_forwarded_for would be: it names the real
// (remote) client, and the gateway, not told to trust it, sees loopback.
func sameHostProxy(t *testing.T, gateway string) string {
	t.Helper()
	target, err := url.Parse(gateway)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = target.Host
		pr.Out.Header.Set("X-Forwarded-For", "203.0.113.77")
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

const (
	assistantConfig = "/ajax-api/3.0/mlflow/assistant/config"
	assistantSkills = "/ajax-api/3.0/mlflow/assistant/skills/install"
	remoteRefusal   = "only accessible from the same host"
)

func TestSecurityAssistant(t *testing.T) {
	e := newSecEnv(t, "MLFLOW_DESCOPE_ASSERTION_SECRET="+secAssertionSecret, "HOME="+t.TempDir())
	d := e.seed()
	projectDir := t.TempDir()
	// The local operator (on the MLflow host) maps alice's experiment to a
	// project directory. MLflow shows that location only to local requests,
	// which makes it a probe for what MLflow takes to be local.
	e.must(e.root.session, "GET", "/api/2.0/mlflow/users/current", nil) // provisions root
	op := newLocalOperator(t, e, e.root.login)
	setup, _ := json.Marshal(map[string]any{"projects": map[string]any{d.expID: map[string]any{"type": "local", "location": projectDir}}})
	if r := op.do("PUT", assistantConfig, setup); r.status != http.StatusOK {
		t.Fatalf("local operator could not configure the assistant: %s", r)
	}
	if r := op.do("GET", assistantConfig, nil); !strings.Contains(string(r.body), projectDir) {
		t.Fatalf("control: MLflow hides the project location from its local operator: %s", r)
	}
	configFile := filepath.Join(e.st.dir, "data", "mlflow", "home", ".mlflow", "assistant", "config.json")
	before, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatalf("the assistant's config is not in the MLflow home: %v", err)
	}

	proxy := sameHostProxy(t, e.st.url)
	via := map[string]func(tok, method, target string, body []byte) resp{
		"direct": func(tok, method, target string, body []byte) resp {
			return e.raw(method, target, append([]hdr{bearer(tok)}, jsonIf(body)...), body)
		},
		"same_host_proxy": func(tok, method, target string, body []byte) resp {
			return e.rawAt(proxy, method, target, append([]hdr{bearer(tok)}, jsonIf(body)...), body)
		},
	}
	for name, send := range via {
		t.Run(name, func(t *testing.T) {
			// Nobody through the gateway is local: the location stays hidden,
			// from admins too.
			for _, u := range []secUser{e.bob, e.root} {
				r := send(u.session, "GET", assistantConfig, nil)
				if r.status != http.StatusOK {
					t.Fatalf("%s: GET config: %s", u.login, r)
				}
				if strings.Contains(string(r.body), projectDir) {
					t.Errorf("%s looks local to MLflow (project location shown): %s", u.login, r)
				}
			}
			// Setup is refused to non-admins by the gateway, before MLflow.
			for _, c := range []struct{ target, body string }{
				{assistantConfig, `{}`},
				{assistantConfig, `{"projects":{"` + d.expID + `":null}}`},
				{assistantSkills, `{"type":"global"}`},
				{assistantSkills, `{"type":"custom","custom_path":"/tmp/mda-skills"}`},
			} {
				method := "POST"
				if c.target == assistantConfig {
					method = "PUT"
				}
				r := send(e.bob.session, method, c.target, []byte(c.body))
				if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "reserved to administrators") {
					t.Errorf("bob %s %s: %s; want the gateway's 403", method, c.target, r)
				}
				// An admin passes the gateway, and MLflow refuses: it is not local.
				r = send(e.root.session, method, c.target, []byte(c.body))
				if r.status != http.StatusForbidden || !strings.Contains(string(r.body), remoteRefusal) {
					t.Errorf("root %s %s: %s; want MLflow's refusal of a remote request", method, c.target, r)
				}
			}
			// Using the assistant is MLflow's call: remote use is off.
			r := send(e.bob.session, "POST", "/ajax-api/3.0/mlflow/assistant/message", []byte(`{"message":"hi","experiment_id":"`+d.expID+`"}`))
			if r.status < 400 {
				t.Errorf("bob used the assistant remotely: %s", r)
			}
		})
	}
	// The other FastAPI-native families: MLflow's own checks decide, as
	// docs/security.md says, and the gateway adds nothing (a routepolicy
	// that reserved them would turn these into the gateway's 403).
	t.Run("other_fastapi_families", func(t *testing.T) {
		bob := func(method, target string, body []byte, extra ...hdr) resp {
			return e.raw(method, target, append(append([]hdr{bearer(e.bob.session)}, jsonIf(body)...), extra...), body)
		}
		notGateway := func(r resp) bool { return !strings.Contains(string(r.body), "reserved to administrators") }
		// Jobs: any signed-in user may call; the launcher turned execution off.
		if r := bob("POST", "/ajax-api/3.0/jobs/", []byte(`{"job_name":"soak","params":{}}`)); r.status < 400 || !notGateway(r) {
			t.Errorf("job submission: %s; want MLflow's refusal", r)
		}
		if r := bob("POST", "/ajax-api/3.0/jobs/search", []byte(`{}`)); r.status != http.StatusOK {
			t.Errorf("job search: %s", r)
		}
		// OTLP: creating traces needs more than READ on the experiment.
		otlp := []hdr{{"Content-Type", "application/x-protobuf"}, {"X-Mlflow-Experiment-Id", d.expID}}
		if r := e.raw("POST", "/v1/traces", append([]hdr{bearer(e.bob.session)}, otlp...), []byte{}); r.status != http.StatusForbidden || !notGateway(r) {
			t.Errorf("bob exporting traces into alice's experiment: %s; want MLflow's 403", r)
		}
		if r := e.raw("POST", "/v1/traces", append([]hdr{bearer(e.alice.session)}, otlp...), []byte{}); r.status == http.StatusForbidden || r.status == http.StatusUnauthorized {
			t.Errorf("alice exporting traces into her experiment: %s", r)
		}
		// AI gateway: an endpoint bob may not use (here: none exists).
		if r := bob("POST", "/gateway/mlflow/v1/chat/completions", []byte(`{"model":"nope","messages":[{"role":"user","content":"hi"}]}`)); r.status < 400 || !notGateway(r) {
			t.Errorf("AI gateway: %s; want MLflow's refusal", r)
		}
		// MCP registry and server info: readable by any signed-in user.
		for _, target := range []string{"/api/3.0/mlflow/mcp-servers", "/ajax-api/3.0/mlflow/server-info"} {
			if r := bob("GET", target, nil); r.status != http.StatusOK {
				t.Errorf("GET %s: %s", target, r)
			}
		}
	})
	if after, err := os.ReadFile(configFile); err != nil || string(after) != string(before) {
		t.Errorf("the assistant's configuration changed: %s (%v)", after, err)
	}
}

func jsonIf(body []byte) []hdr {
	if body == nil {
		return nil
	}
	return []hdr{jsonCT}
}
