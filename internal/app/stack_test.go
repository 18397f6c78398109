package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/cli"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// stack is the real gateway (run, as main calls it) supervising a real
// mlflow server, against an in-process Descope simulator.
type stack struct {
	sim    *descopesim.Server
	url    string
	dir    string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// startStack starts descope-sim and `serve`, and waits until /ready.
func startStack(t *testing.T, env ...string) *stack {
	t.Helper()
	sim, err := descopesim.New(descopesim.Options{ProjectID: "P2StackTest00000000000001", AutoSignUp: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return startStackWith(t, sim, t.TempDir(), env...)
}

// startStackWith starts `serve` against sim with its state in dir (the
// gateway's data in dir/data), and waits until /ready.
func startStackWith(t *testing.T, sim *descopesim.Server, dir string, env ...string) *stack {
	t.Helper()
	mlflowBin := testenv.MLflowBin(t)
	port := testenv.FreePort(t)
	environ := append([]string{
		"DESCOPE_PROJECT_ID=" + sim.ProjectID(),
		"DESCOPE_BASE_URI=" + sim.URL(),
		"DESCOPE_MANAGEMENT_KEY=" + sim.ManagementKey(),
		"DESCOPE_WEB_COMPONENT_URL=" + sim.URL() + "/sim/web-component.js",
		"MLFLOW_BACKEND_STORE_URI=sqlite:///" + filepath.Join(dir, "mlflow.db"),
		"MLFLOW_ARTIFACT_ROOT=" + filepath.Join(dir, "artifacts"),
		"MLFLOW_DESCOPE_METRICS_ADDR=",
		"MLFLOW_DESCOPE_MLFLOW_WORKERS=2",
		// One cache of the compressed UI files for every stack of the run:
		// each would otherwise compress MLflow's 27 MB build again.
		"MLFLOW_DESCOPE_UI_CACHE_DIR=" + filepath.Join(os.TempDir(), "mlflow-descope-auth-test-ui-cache"),
		"MLFLOW_DESCOPE_LOG_FORMAT=text",
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
	}, env...)
	args := []string{"serve", "--port", strconv.Itoa(port), "--data-dir", filepath.Join(dir, "data"), "--mlflow-bin", mlflowBin}
	ctx, cancel := context.WithCancel(context.Background())
	s := &stack{sim: sim, url: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{}}
	go func() { s.done <- cli.Run(ctx, args, environ, io.Discard, s.logs) }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			art := testenv.Artifacts(t)
			_ = os.WriteFile(filepath.Join(art, sanitize(t.Name())+"-gateway.log"), []byte(s.logs.String()), 0o644)
		}
	})
	s.waitReady(t, 3*time.Minute)
	return s
}

func (s *stack) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			t.Fatalf("gateway exited: %v\n%s", err, s.logs.String())
		default:
		}
		resp, err := http.Get(s.url + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("gateway not ready after %s\n%s", within, s.logs.String())
}

// stop cancels run as SIGTERM would and waits for it to drain and stop MLflow.
func (s *stack) stop(t *testing.T) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run returned %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("gateway did not stop within 60s")
	}
}

func sanitize(name string) string {
	out := []rune(name)
	for i, r := range out {
		if r == '/' || r == ' ' {
			out[i] = '_'
		}
	}
	return string(out)
}
