package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// api calls the gateway with a bearer token and decodes the JSON answer.
func api(t *testing.T, base, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return apiWith(t, base, token, nil, method, path, body)
}

// apiWith is api with extra request headers.
func apiWith(t *testing.T, base, token string, hdr map[string]string, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func (s *stack) session(t *testing.T, id string, roles ...string) string {
	t.Helper()
	if _, err := s.sim.UserByID(id); err != nil {
		if err := s.sim.CreateUser(descopesim.User{ID: id, LoginIDs: []string{id + "@example.com"}, Email: id + "@example.com", Roles: roles}); err != nil {
			t.Fatal(err)
		}
	}
	sess, _, err := s.sim.MintSession(id, descopesim.MintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

var childLine = regexp.MustCompile(`msg="mlflow started".* pid=(\d+) url=(\S+)`)

// child returns the PID and URL of a ready MLflow process: worker 0's
// newest. The last start line would not do: with several workers it may
// name one still starting.
func (s *stack) child(t *testing.T) (int, string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if pid, ok := s.workers(t)[0]; ok {
			for _, m := range childLine.FindAllStringSubmatch(s.logs.String(), -1) {
				if p, _ := strconv.Atoi(m[1]); p == pid {
					return pid, m[2]
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready MLflow process in the gateway log\n%s", lastLines(s.logs.String(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPermissionsFollowMLflowRBAC(t *testing.T) {
	for _, tc := range []struct {
		defaultPerm string
		bCanRead    bool
	}{
		{"READ", true},
		{"NO_PERMISSIONS", false},
	} {
		t.Run(tc.defaultPerm, func(t *testing.T) {
			st := startStack(t, "DESCOPE_DEFAULT_PERMISSION="+tc.defaultPerm)
			alice, bob, root := st.session(t, "U2alice"), st.session(t, "U2bob"), st.session(t, "U2root", "mlflow-admin")

			code, out := api(t, st.url, alice, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "alice-exp-" + tc.defaultPerm})
			if code != 200 {
				t.Fatalf("alice create: %d %v", code, out)
			}
			expID := fmt.Sprint(out["experiment_id"])

			code, out = api(t, st.url, bob, "GET", "/api/2.0/mlflow/experiments/get?experiment_id="+expID, nil)
			if tc.bCanRead && code != 200 {
				t.Errorf("bob read with default %s: %d %v", tc.defaultPerm, code, out)
			}
			if !tc.bCanRead && (code != 403 || out["error_code"] != "PERMISSION_DENIED") {
				t.Errorf("bob read with default %s: %d %v, want 403 PERMISSION_DENIED", tc.defaultPerm, code, out)
			}
			code, out = api(t, st.url, bob, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": expID})
			if code != 403 || out["error_code"] != "PERMISSION_DENIED" {
				t.Errorf("bob logs to alice's experiment: %d %v, want 403 PERMISSION_DENIED", code, out)
			}
			code, out = api(t, st.url, root, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": expID})
			if code != 200 {
				t.Errorf("admin logs to alice's experiment: %d %v", code, out)
			}
			// Nothing bob tried landed: the only run is the admin's.
			code, out = api(t, st.url, alice, "POST", "/api/2.0/mlflow/runs/search", map[string]any{"experiment_ids": []string{expID}})
			if runs, _ := out["runs"].([]any); code != 200 || len(runs) != 1 {
				t.Errorf("runs in alice's experiment: %d %v, want exactly the admin's", code, out)
			}
		})
	}
}

func TestMLflowRefusesAnythingButTheGateway(t *testing.T) {
	st := startStack(t)
	st.session(t, "U2alice")
	_, childURL := st.child(t)
	secretless, _ := assertion.NewSigner([]byte("not-the-gateway-secret-0123456789abcdef"), time.Minute, nil)
	forged, _ := secretless.Sign("mlflow-descope-auth-admin", "x")
	expiredSigner, _ := assertion.NewSigner([]byte("not-the-gateway-secret-0123456789abcdef"), time.Second, func() time.Time { return time.Now().Add(-time.Hour) })
	expired, _ := expiredSigner.Sign("U2alice", "x")
	for _, tc := range []struct {
		name string
		hdr  map[string]string
	}{
		{"no credential", nil},
		{"forged assertion", map[string]string{assertion.Header: forged}},
		{"expired assertion", map[string]string{assertion.Header: expired}},
		{"garbage assertion", map[string]string{assertion.Header: "v1.e30.AAAA"}},
		{"basic admin", map[string]string{"Authorization": "Basic bWxmbG93LWRlc2NvcGUtYXV0aC1hZG1pbjpwYXNzd29yZDEyMzQ="}},
	} {
		req, _ := http.NewRequest("GET", childURL+"/api/2.0/mlflow/experiments/search?max_results=1", nil)
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s straight to MLflow: %d, want 401", tc.name, resp.StatusCode)
		}
		if resp.Header.Get("Www-Authenticate") != "" {
			t.Errorf("%s: MLflow asked for Basic credentials", tc.name)
		}
	}
}

func TestMLflowCrashIsSurvived(t *testing.T) {
	st := startStack(t)
	alice := st.session(t, "U2alice")
	// Kill every MLflow process group, as a crash or the OOM killer would
	// (with one left, it would serve: TestWorkersShareTheLoadAndSurviveACrash).
	before := st.waitWorkers(t, 2, 3*time.Minute)
	for _, pid := range before {
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill mlflow: %v", err)
		}
	}
	sawDown := false
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !sawDown {
		resp, err := http.Get(st.url + "/ready")
		if err == nil {
			resp.Body.Close()
			sawDown = resp.StatusCode == http.StatusServiceUnavailable
		}
		if !sawDown {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !sawDown {
		t.Fatal("/ready never failed after MLflow was killed")
	}
	code, out := api(t, st.url, alice, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil)
	if code != 502 && code != 503 {
		t.Errorf("request while MLflow is down: %d %v, want 502 or 503 JSON", code, out)
	} else if out["error_code"] == nil {
		t.Errorf("error without MLflow-shaped JSON: %v", out)
	}
	st.waitReady(t, 2*time.Minute)
	if code, out := api(t, st.url, alice, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil); code != 200 {
		t.Errorf("after restart: %d %v", code, out)
	}
	st.waitWorkers(t, 2, 3*time.Minute, before[0], before[1])
}

// TestShutdownDrainsBeforeStoppingMLflow: a request still arriving when the
// gateway is told to stop completes. Its JSON body is read whole by the
// gateway (to inspect it) before anything goes to MLflow, so MLflow first
// hears of it after SIGTERM: it must still be running then.
func TestShutdownDrainsBeforeStoppingMLflow(t *testing.T) {
	st := startStack(t)
	root := st.session(t, "U2root", "mlflow-admin")
	body := []byte(`{"name": "created-during-shutdown"}`)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", st.url+"/api/2.0/mlflow/experiments/create", pr)
	req.Header.Set("Authorization", "Bearer "+root)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(body))
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("request: %v", err)
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write(body[:5]) // the request is now in flight at the gateway
	time.Sleep(300 * time.Millisecond)
	st.cancel() // SIGTERM
	time.Sleep(1500 * time.Millisecond)
	if _, err := pw.Write(body[5:]); err != nil {
		t.Fatalf("request cut during shutdown: %v", err)
	}
	pw.Close()
	if code := <-done; code != http.StatusOK {
		t.Errorf("request in flight at shutdown: status %d, want 200\n%s", code, lastLines(st.logs.String(), 10))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestMappingFileAdminsAreGatewayAdmins: a role the mapping file makes admin
// counts as admin everywhere — in MLflow (provisioning) and in the gateway
// (admin pages, unknown routes) — and MLFLOW_DESCOPE_UNKNOWN_ROUTES reaches the
// gateway.
func TestMappingFileAdminsAreGatewayAdmins(t *testing.T) {
	mapping := filepath.Join(t.TempDir(), "mapping.json")
	if err := os.WriteFile(mapping, []byte(`{"admin_roles": ["ml-lead"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	st := startStack(t, "DESCOPE_ROLE_MAPPING_FILE="+mapping)
	lead, plain := st.session(t, "U2lead", "ml-lead"), st.session(t, "U2plain")
	if code, out := api(t, st.url, lead, "GET", "/api/2.0/mlflow/users/current", nil); code != 200 || fmt.Sprint(out["user"]) == "" {
		t.Fatalf("users/current: %d %v", code, out)
	} else if u, _ := out["user"].(map[string]any); u["is_admin"] != true {
		t.Errorf("MLflow does not see the mapped admin as admin: %v", out)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{lead, 200}, {plain, 403}} {
		req, _ := http.NewRequest("GET", st.url+"/auth/admin/", nil)
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("admin page: %d, want %d", resp.StatusCode, tc.want)
		}
	}
	if code, _ := api(t, st.url, plain, "POST", "/api/2.0/mlflow/not-a-route", map[string]any{}); code != 403 {
		t.Errorf("unknown route for a non-admin by default: %d, want 403", code)
	}

	open := startStack(t, "MLFLOW_DESCOPE_UNKNOWN_ROUTES=allow")
	other := open.session(t, "U2plain")
	if code, out := api(t, open.url, other, "POST", "/api/2.0/mlflow/not-a-route", map[string]any{}); code == 403 && out["message"] == "this API route is not known to the gateway" {
		t.Errorf("MLFLOW_DESCOPE_UNKNOWN_ROUTES=allow did not reach the gateway")
	}
}
