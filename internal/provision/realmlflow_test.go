package provision_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
)

// realMLflow is an MLflow server started for one test.
type realMLflow struct {
	client *mlflow.Client
	signer *assertion.Signer
	base   string
	hc     *http.Client
}

// startMLflow launches the real MLflow named by MLFLOW_BIN (with the
// project's plugin installed), or skips the test.
func startMLflow(tb testing.TB, workspaces bool, defaultPermission string) *realMLflow {
	tb.Helper()
	bin := os.Getenv("MLFLOW_BIN")
	if bin == "" {
		tb.Skip("MLFLOW_BIN is not set: skipping the test against real MLflow")
	}
	secret := []byte(rand.Text() + rand.Text()) // printable: it travels in the environment
	sup, err := mlflow.New(mlflow.Options{
		MLflowBin:         bin,
		AssertionSecret:   secret,
		WorkDir:           tb.TempDir(),
		EnableWorkspaces:  workspaces,
		DefaultPermission: defaultPermission,
		Workers:           1,
		StopTimeout:       10 * time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("mlflow supervisor: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer wcancel()
	if err := sup.WaitReady(wctx); err != nil {
		tb.Fatalf("mlflow did not start: %v", err)
	}
	signer, err := assertion.NewSigner(secret, time.Minute, nil)
	if err != nil {
		tb.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	client, err := mlflow.NewClient(sup.URL().String(), sup.AdminUsername(), mlflow.SignerFunc(signer), hc)
	if err != nil {
		tb.Fatal(err)
	}
	return &realMLflow{client: client, signer: signer, base: sup.URL().String(), hc: hc}
}

// call makes one request to MLflow as username, in workspace ws (none if
// empty), and returns the status and decoded JSON body.
func (m *realMLflow) call(tb testing.TB, username, ws, method, path string, body any) (int, map[string]any) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, m.base+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ws != "" {
		req.Header.Set("X-MLFLOW-WORKSPACE", ws)
	}
	a, err := m.signer.Sign(username, "test")
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set(assertion.Header, a)
	resp, err := m.hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil && len(raw) > 0 {
		out["_raw"] = string(raw)
	}
	return resp.StatusCode, out
}

// mustCall is call that fails the test unless MLflow answers 200.
func (m *realMLflow) mustCall(tb testing.TB, username, ws, method, path string, body any) map[string]any {
	tb.Helper()
	st, out := m.call(tb, username, ws, method, path, body)
	if st != http.StatusOK {
		tb.Fatalf("%s %s as %s (workspace %q): status %d: %v", method, path, username, ws, st, out)
	}
	return out
}
