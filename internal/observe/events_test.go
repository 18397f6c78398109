package observe_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gatewaytest"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
)

func jar(tb testing.TB) *http.Client {
	tb.Helper()
	j, _ := cookiejar.New(nil)
	return &http.Client{Jar: j, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func send(tb testing.TB, c *http.Client, method, u string, hdr map[string]string, body string) int {
	tb.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func signIn(tb testing.TB, g *gatewaytest.Gateway, c *http.Client, sess, ref string) int {
	tb.Helper()
	body, _ := json.Marshal(map[string]string{"sessionJwt": sess, "refreshJwt": ref, "next": "/"})
	return send(tb, c, "POST", g.URL+"/auth/session", map[string]string{"Content-Type": "application/json", "Origin": g.URL}, string(body))
}

// TestEveryEventTypeIsStored drives a real gateway through every kind of
// event and checks what lands in each store.
func TestEveryEventTypeIsStored(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			p := newPipeline(t, b.open(t), audit.WriterOptions{})
			g := gatewaytest.New(t, gatewaytest.Options{Events: p.audit})
			g.User(t, "U2alice")
			sess, ref := g.Mint(t, "U2alice", descopesim.MintOptions{})
			api := g.URL + "/api/2.0/mlflow/experiments/get?experiment_id="

			c := jar(t)
			if s := signIn(t, g, c, sess, ref); s != 200 {
				t.Fatalf("sign-in: %d", s)
			}
			if s := signIn(t, g, jar(t), "eyJ.not.valid", ""); s != 401 {
				t.Fatalf("bad sign-in: %d", s)
			}
			if s := send(t, c, "GET", api+"7", nil, ""); s != 200 {
				t.Fatalf("request: %d", s)
			}
			if s := send(t, c, "GET", api+gatewaytest.DeniedExperiment, nil, ""); s != 403 {
				t.Fatalf("denied request: %d", s)
			}
			// An expired session with a valid refresh token is refreshed.
			old, oldRef := g.Mint(t, "U2alice", descopesim.MintOptions{SessionTTL: -time.Minute})
			rc := jar(t)
			u, _ := url.Parse(g.URL)
			rc.Jar.SetCookies(u, []*http.Cookie{{Name: "mlflow_ds", Value: old, Path: "/"}, {Name: "mlflow_dsr", Value: oldRef, Path: "/"}})
			if s := send(t, rc, "GET", api+"8", nil, ""); s != 200 {
				t.Fatalf("refreshed request: %d", s)
			}
			if s := send(t, jar(t), "GET", api+"7", map[string]string{"Authorization": "Bearer eyJhbGciOiJFUzM4NCJ9.e30.c2ln"}, ""); s != 401 {
				t.Fatalf("bad bearer: %d", s)
			}
			keyID, secret := g.AccessKey(t, "U2alice")
			if s := send(t, jar(t), "GET", api+"9", map[string]string{"Authorization": "Bearer " + secret}, ""); s != 200 {
				t.Fatalf("access key: %d", s)
			}
			if s := send(t, jar(t), "GET", api+"9", map[string]string{"Authorization": "Bearer K2nope:notakey"}, ""); s != 401 {
				t.Fatalf("bad access key: %d", s)
			}
			if s := send(t, c, "POST", g.URL+"/auth/logout", map[string]string{"Origin": g.URL}, ""); s != 200 {
				t.Fatalf("logout: %d", s)
			}
			event.Send(p.audit,
				provision.Event{Action: "assign_role", Username: "U2alice", Role: "readers", Workspace: "team-a", Detail: "rule 1"},
				event.SyncRun{Started: time.Now().Add(-time.Second), Finished: time.Now(), Counts: map[string]int{"reconciled": 2}, Replica: "gw-1-abc123"},
				event.SyncRun{Err: errors.New("usersync: list roles: boom")},
				event.KeyExchange{Err: descope.ErrUnavailable},
				event.Started{Details: map[string]string{"config_hash": "sha256:00"}},
				event.KeyCreated{Actor: event.Actor{UserID: "U2alice", Method: event.MethodCookie}, KeyID: "K2new", KeyName: "laptop",
					Channel: "page", Expires: time.Now().Add(24 * time.Hour)},
				event.KeyRevoked{Actor: event.Actor{UserID: "U2root"}, KeyID: "K2new", OwnerID: "U2alice", ByAdmin: true},
				event.CodeSignIn{Actor: event.Actor{UserID: "U2alice"}, Client: "box", Origin: "http://127.0.0.1:8400"},
				event.CodeSignIn{Actor: event.Actor{UserID: "U2alice"}, Device: true, Refused: event.ReasonReusedCode})

			if st := p.flush(t); st.Dropped != 0 || st.Invalid != 0 || st.Failed != 0 {
				t.Fatalf("writer stats %+v", st)
			}
			events := all(t, p.store, audit.Filter{})
			find := func(what string, ok func(e audit.Event) bool) audit.Event {
				t.Helper()
				for _, e := range events {
					if ok(e) {
						return e
					}
				}
				t.Errorf("no %s event among %d", what, len(events))
				return audit.Event{}
			}
			byUser := func(e audit.Event) bool { return e.Actor.UserID == "U2alice" }

			e := find("sign_in", func(e audit.Event) bool { return e.Action == audit.ActionSignIn && e.Outcome == audit.OutcomeSuccess })
			if !byUser(e) || e.Actor.Method != audit.MethodCookie || e.RequestID == "" || e.ClientIP != "127.0.0.1" || e.Status != 200 || e.Route != "POST auth_session" {
				t.Errorf("sign_in = %+v", e)
			}
			e = find("failed sign_in", func(e audit.Event) bool { return e.Action == audit.ActionSignIn && e.Outcome == audit.OutcomeFailure })
			if e.Reason == "" || e.Status != 401 || e.RequestID == "" {
				t.Errorf("failed sign_in = %+v", e)
			}
			e = find("request", func(e audit.Event) bool {
				return e.Action == audit.ActionRequest && e.Status == 200 && len(e.Resources[audit.ResourceExperiment]) == 1 && e.Resources[audit.ResourceExperiment][0] == "7"
			})
			if !byUser(e) || e.RPC != "GetExperiment" || e.Outcome != audit.OutcomeSuccess || e.Latency <= 0 || e.RequestID == "" || e.Route != "GET /api/2.0/mlflow/experiments/get" {
				t.Errorf("request = %+v", e)
			}
			e = find("MLflow-denied request", func(e audit.Event) bool { return e.Action == audit.ActionRequest && e.MLflowDenied })
			if e.Outcome != audit.OutcomeDenied || e.Status != 403 || e.Reason != "mlflow_permission_denied" {
				t.Errorf("denied request = %+v", e)
			}
			e = find("refresh", func(e audit.Event) bool { return e.Action == audit.ActionRefresh })
			if !byUser(e) || e.Outcome != audit.OutcomeSuccess || e.RequestID == "" {
				t.Errorf("refresh = %+v", e)
			}
			e = find("auth_failure", func(e audit.Event) bool {
				return e.Action == audit.ActionAuthFailure && e.Actor.Method == audit.MethodBearerJWT
			})
			if e.Outcome != audit.OutcomeFailure || e.Reason == "" || e.Status != 401 || e.RequestID == "" {
				t.Errorf("auth_failure = %+v", e)
			}
			e = find("access_key_exchange", func(e audit.Event) bool {
				return e.Action == audit.ActionAccessKeyExchange && e.Outcome == audit.OutcomeSuccess
			})
			if e.Details["key_id"] != keyID {
				t.Errorf("access_key_exchange = %+v, want key %s", e, keyID)
			}
			find("failed access_key_exchange", func(e audit.Event) bool {
				return e.Action == audit.ActionAccessKeyExchange && e.Outcome == audit.OutcomeFailure && e.Reason != ""
			})
			find("unavailable access_key_exchange", func(e audit.Event) bool {
				return e.Action == audit.ActionAccessKeyExchange && e.Outcome == audit.OutcomeError
			})
			e = find("access-key request", func(e audit.Event) bool {
				return e.Action == audit.ActionRequest && e.Actor.Method == audit.MethodAccessKey
			})
			if !byUser(e) || e.Details["key_id"] != keyID {
				t.Errorf("access-key request = %+v", e)
			}
			e = find("sign_out", func(e audit.Event) bool { return e.Action == audit.ActionSignOut })
			if !byUser(e) || e.RequestID == "" {
				t.Errorf("sign_out = %+v", e)
			}
			e = find("assign_role", func(e audit.Event) bool { return e.Action == audit.ActionAssignRole })
			if e.Actor.Method != audit.MethodSystem || e.Resources["mlflow_user"][0] != "U2alice" || e.Resources[audit.ResourceRole][0] != "readers" {
				t.Errorf("assign_role = %+v", e)
			}
			e = find("sync_run", func(e audit.Event) bool { return e.Action == audit.ActionSyncRun && e.Outcome == audit.OutcomeSuccess })
			if e.Details["reconciled"] != "2" || e.Details["replica"] != "gw-1-abc123" || e.Latency <= 0 {
				t.Errorf("sync_run = %+v", e)
			}
			find("failed sync_run", func(e audit.Event) bool { return e.Action == audit.ActionSyncRun && e.Outcome == audit.OutcomeError })
			find("config", func(e audit.Event) bool { return e.Action == audit.ActionConfig })
			e = find("access_key_create", func(e audit.Event) bool { return e.Action == audit.ActionAccessKeyCreate })
			if !byUser(e) || e.Details["key_id"] != "K2new" || e.Details["channel"] != "page" {
				t.Errorf("access_key_create = %+v", e)
			}
			find("access_key_revoke", func(e audit.Event) bool {
				return e.Action == audit.ActionAccessKeyRevoke && e.Reason == "admin" && e.Details["owner_id"] == "U2alice"
			})
			find("cli_login", func(e audit.Event) bool { return e.Action == audit.ActionCLILogin && e.Reason == "code_issued" })
			find("device_approve", func(e audit.Event) bool {
				return e.Action == audit.ActionDeviceApprove && e.Outcome == audit.OutcomeFailure && e.Reason == "reused_code"
			})

			for _, e := range events {
				raw, _ := json.Marshal(e)
				for _, s := range []string{sess, ref, old, oldRef, secret} {
					if strings.Contains(string(raw), s) {
						t.Errorf("event %d holds a credential: %s", e.ID, raw)
					}
				}
			}
			res, err := p.store.Verify(t.Context())
			if err != nil || !res.OK() {
				t.Errorf("verify: %+v %v", res, err)
			}
		})
	}
}
