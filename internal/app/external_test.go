package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/cli"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

const externalSecret = "external-test-secret-0123456789abcdef"

// external is `serve` in external mode (--mlflow-url) in front of a fake
// MLflow that checks the assertion, against an in-process simulator.
type external struct {
	sim      *descopesim.Server
	url      string
	dataDir  string
	env      []string
	cancel   context.CancelFunc
	done     chan error
	logs     *syncBuffer
	stdout   *syncBuffer
	upstream atomic.Int64 // requests that reached the fake MLflow
}

func startExternal(t *testing.T, delay time.Duration, env ...string) *external {
	t.Helper()
	sim, err := descopesim.New(descopesim.Options{ProjectID: "P2ExternalTest0000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	e := &external{sim: sim, done: make(chan error, 1), logs: &syncBuffer{}, stdout: &syncBuffer{}}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			io.WriteString(w, "OK")
			return
		}
		e.upstream.Add(1)
		time.Sleep(delay)
		if _, err := assertion.Verify([]byte(externalSecret), r.Header.Get(assertion.Header), time.Now()); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"experiments":[]}`)
	}))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	e.dataDir = filepath.Join(dir, "data")
	port := testenv.FreePort(t)
	e.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	e.env = append([]string{
		"DESCOPE_PROJECT_ID=" + sim.ProjectID(),
		"DESCOPE_BASE_URI=" + sim.URL(),
		"DESCOPE_MANAGEMENT_KEY=" + sim.ManagementKey(),
		"DESCOPE_WEB_COMPONENT_URL=" + sim.URL() + "/sim/web-component.js",
		"MLFLOW_DESCOPE_MLFLOW_URL=" + up.URL,
		"MLFLOW_DESCOPE_ASSERTION_SECRET=" + externalSecret,
		"MLFLOW_DESCOPE_DATA_DIR=" + e.dataDir,
		"MLFLOW_DESCOPE_PORT=" + strconv.Itoa(port),
		"MLFLOW_DESCOPE_METRICS_ADDR=",
		"HOME=" + os.Getenv("HOME"),
	}, env...)
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- cli.Run(ctx, []string{"serve"}, e.env, e.stdout, e.logs) }()
	t.Cleanup(func() { e.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-e.done:
			t.Fatalf("serve exited: %v\n%s", err, e.logs.String())
		default:
		}
		if resp, err := http.Get(e.url + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not ready\n%s", e.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop cancels serve (as SIGTERM does) and waits for it to return.
func (e *external) stop(t *testing.T) {
	t.Helper()
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("serve did not stop within 60s")
	}
}

// user creates a user (with roles) and returns a session and refresh JWT.
func (e *external) user(t *testing.T, id string, roles ...string) (string, string) {
	t.Helper()
	if err := e.sim.CreateUser(descopesim.User{ID: id, LoginIDs: []string{id + "@example.com"}, Email: id + "@example.com", Roles: roles}); err != nil {
		t.Fatal(err)
	}
	s, r, err := e.sim.MintSession(id, descopesim.MintOptions{SessionTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}
