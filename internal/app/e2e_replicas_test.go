package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/cli"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// replica is a second gateway, in external mode, in front of the MLflow that
// the stack's gateway supervises: the deployment of docs/deployment.md.
type replica struct {
	url    string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

func startReplica(t *testing.T, st *stack, env ...string) *replica {
	t.Helper()
	port := testenv.FreePort(t)
	r := &replica{url: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan error, 1), logs: &syncBuffer{}}
	environ := replicaEnviron(t, st, port, env...)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- cli.Run(ctx, []string{"serve"}, environ, io.Discard, r.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("replica returned %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("replica did not stop within 60s")
		}
		if t.Failed() {
			_ = os.WriteFile(filepath.Join(testenv.Artifacts(t), sanitize(t.Name())+"-replica.log"), []byte(r.logs.String()), 0o644)
		}
	})
	for deadline := time.Now().Add(time.Minute); ; {
		select {
		case err := <-r.done:
			t.Fatalf("replica exited: %v\n%s", err, r.logs.String())
		default:
		}
		if resp, err := http.Get(r.url + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica not ready\n%s", r.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// replicaEnviron is the environment of a replica listening on port, in
// external mode in front of st's MLflow; env is added last (and wins).
func replicaEnviron(t *testing.T, st *stack, port int, env ...string) []string {
	t.Helper()
	_, mlflowURL := st.child(t)
	return append([]string{
		"DESCOPE_PROJECT_ID=" + st.sim.ProjectID(),
		"DESCOPE_BASE_URI=" + st.sim.URL(),
		"DESCOPE_WEB_COMPONENT_URL=" + st.sim.URL() + "/sim/web-component.js",
		"MLFLOW_DESCOPE_MLFLOW_URL=" + mlflowURL,
		"MLFLOW_DESCOPE_DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
		"MLFLOW_DESCOPE_PORT=" + strconv.Itoa(port),
		"MLFLOW_DESCOPE_METRICS_ADDR=",
		"MLFLOW_DESCOPE_LOG_FORMAT=text",
		"HOME=" + os.Getenv("HOME"),
	}, env...)
}

// signInCookies moves a session into cookies through base's /auth/session.
func signInCookies(t *testing.T, base, session, refresh string) []*http.Cookie {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"sessionJwt": session, "refreshJwt": refresh})
	req, _ := http.NewRequest("POST", base+"/auth/session", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", base)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in at %s: %d", base, resp.StatusCode)
	}
	return resp.Cookies()
}

// eventually polls f until it is true or within passes.
func eventually(within time.Duration, f func() bool) bool {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if f() {
			return true
		}
	}
	return f()
}

// TestReplicasShareSignOutAndBlocks: two gateways on one PostgreSQL in front
// of one real MLflow. A browser session signed out on one is refused by the
// other within seconds (before: until the JWT expired), and a user the sync
// job on one replica finds disabled is refused by the other, which runs no
// sync job at all.
func TestReplicasShareSignOutAndBlocks(t *testing.T) {
	dsn := testenv.FreshDatabase(t, testenv.RequirePostgres(t), "replicas_")
	const secret = "replica-test-assertion-secret-0123456789"
	st := startStack(t,
		"MLFLOW_DESCOPE_ASSERTION_SECRET="+secret,
		"MLFLOW_DESCOPE_AUDIT_DB="+dsn,
		"DESCOPE_SYNC_INTERVAL=1s")
	b := startReplica(t, st,
		"MLFLOW_DESCOPE_ASSERTION_SECRET="+secret,
		"MLFLOW_DESCOPE_AUDIT_DB="+dsn,
		"DESCOPE_SYNC_INTERVAL=0")
	const search = "/api/2.0/mlflow/experiments/search?max_results=1"

	// Signed in on A; the same session JWT works on B.
	st.session(t, "U2alice")
	sess, refresh, err := st.sim.MintSession("U2alice", descopesim.MintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cookies := signInCookies(t, st.url, sess, refresh)
	if code := getWithCookies(t, st.url+search, cookies); code != 200 {
		t.Fatalf("A with the session: %d", code)
	}
	if code, out := api(t, b.url, sess, "GET", search, nil); code != 200 {
		t.Fatalf("B with the session JWT: %d %v", code, out)
	}
	// Sign out on A.
	req, _ := http.NewRequest("POST", st.url+"/auth/logout", nil)
	req.Header.Set("Origin", st.url)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code := getWithCookies(t, st.url+search, cookies); code != http.StatusUnauthorized {
		t.Fatalf("A after sign-out: %d, want 401", code)
	}
	start := time.Now()
	refused := eventually(15*time.Second, func() bool {
		code, _ := api(t, b.url, sess, "GET", search, nil)
		return code == http.StatusUnauthorized
	})
	if !refused {
		t.Fatal("B still accepts a session signed out on A after 15 s")
	}
	t.Logf("B refused the signed-out session %s after the sign-out on A", time.Since(start).Round(10*time.Millisecond))
	if code := getWithCookies(t, b.url+search, cookies); code != http.StatusUnauthorized {
		t.Errorf("B with the signed-out cookies: %d, want 401", code)
	}

	// Disabled in Descope: A's sync job notices, B refuses too. Bob's MLflow
	// username is decided on A (which can ask Descope's management API); B,
	// without a management key, finds it in the shared database.
	bob := st.session(t, "U2bob")
	if code, out := api(t, st.url, bob, "GET", search, nil); code != 200 {
		t.Fatalf("A with bob's session: %d %v", code, out)
	}
	if code, out := api(t, b.url, bob, "GET", search, nil); code != 200 {
		t.Fatalf("B with bob's session before: %d %v", code, out)
	}
	if _, who := api(t, b.url, bob, "GET", "/auth/whoami", nil); who["username"] != "U2bob@example.com" {
		t.Errorf("B names bob %v, want the name A decided (U2bob@example.com)", who["username"])
	}
	if err := st.sim.SetUserStatus("U2bob", "disabled"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if !eventually(20*time.Second, func() bool {
		code, _ := api(t, b.url, bob, "GET", search, nil)
		return code == http.StatusUnauthorized
	}) {
		t.Fatal("B still accepts a user disabled in Descope 20 s after A's sync could see it")
	}
	t.Logf("B refused the disabled user %s after the change in Descope", time.Since(start).Round(10*time.Millisecond))
	if code, _ := api(t, st.url, bob, "GET", search, nil); code != http.StatusUnauthorized {
		t.Errorf("A with the disabled user's session: %d, want 401", code)
	}
	// Enabled again: both let bob back in.
	if err := st.sim.SetUserStatus("U2bob", "enabled"); err != nil {
		t.Fatal(err)
	}
	if !eventually(20*time.Second, func() bool {
		code, _ := api(t, b.url, bob, "GET", search, nil)
		return code == 200
	}) {
		t.Error("B still refuses a user enabled again in Descope")
	}
}
