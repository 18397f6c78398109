package mlflow

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
)

// realMLflow returns the mlflow executable for integration tests: $MLFLOW_BIN,
// else .venv/bin/mlflow at the repository root; the test is skipped if
// neither exists.
func realMLflow(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("MLFLOW_BIN"); bin != "" {
		return bin
	}
	bin, err := filepath.Abs(filepath.Join("..", "..", ".venv", "bin", "mlflow"))
	if err == nil {
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
	}
	t.Skip("no mlflow: set MLFLOW_BIN or run make venv")
	return ""
}

// testLogWriter sends log lines to t.Log until the test ends.
type testLogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func TestIntegrationSupervisorAndClient(t *testing.T) {
	t.Parallel()
	bin := realMLflow(t)
	secret := []byte("integration-secret-0123456789abcdef0123")
	lw := &testLogWriter{t: t}
	t.Cleanup(func() { lw.mu.Lock(); lw.done = true; lw.mu.Unlock() })
	s, err := New(Options{
		MLflowBin:        bin,
		AssertionSecret:  secret,
		WorkDir:          t.TempDir(),
		Workers:          1,
		EnableWorkspaces: true,
		Logger:           slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelInfo})),
		StartTimeout:     4 * time.Minute,
		MinBackoff:       200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-runErr
	}()

	wait := func() {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
		defer wcancel()
		if err := s.WaitReady(wctx); err != nil {
			t.Fatalf("WaitReady: %v", err)
		}
	}
	wait()

	signer, err := assertion.NewSigner(secret, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(s.URL().String(), s.AdminUsername(), SignerFunc(signer), &http.Client{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if me, err := c.CurrentUser(ctx); err != nil || me.Username != DefaultAdminUsername || !me.IsAdmin {
		t.Fatalf("CurrentUser = %+v, %v; want the bootstrap admin", me, err)
	}
	checkUnauthenticated(t, s)

	if err := c.CreateUser(ctx, "alice@example.com", "unused-password-123"); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := c.CreateUser(ctx, "alice@example.com", "unused-password-123"); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second CreateUser = %v; want ErrAlreadyExists", err)
	}
	if err := c.SetAdmin(ctx, "alice@example.com", true); err != nil {
		t.Fatalf("SetAdmin: %v", err)
	}
	if u, err := c.User(ctx, "alice@example.com"); err != nil || !u.IsAdmin {
		t.Fatalf("User = %+v, %v; want admin", u, err)
	}
	if _, err := c.User(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("User(nobody) = %v; want ErrNotFound", err)
	}
	if _, err := c.CreateWorkspace(ctx, Workspace{Name: "team-a", Description: "Team A"}); err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	role, err := c.CreateRole(ctx, "members", "team-a", "team A members")
	if err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	if _, err := c.AddRolePermission(ctx, role.ID, Grant{ResourceType: "workspace", ResourcePattern: "*", Permission: "USE"}); err != nil {
		t.Fatalf("AddRolePermission: %v", err)
	}
	if _, err := c.AssignRole(ctx, "alice@example.com", role.ID); err != nil {
		t.Fatalf("AssignRole: %v", err)
	}
	if roles, err := c.UserRoles(ctx, "alice@example.com"); err != nil || len(roles) != 1 || roles[0].Name != "members" {
		t.Fatalf("UserRoles = %+v, %v", roles, err)
	}

	// Kill the mlflow CLI hard: its uvicorn child is orphaned, the
	// Supervisor must clear the process group and start a new child.
	first := s.PID()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for s.Restarts() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no restart after SIGKILL")
		}
		time.Sleep(50 * time.Millisecond)
	}
	wait()
	second := s.PID()
	if second == first || groupAlive(first) {
		t.Fatalf("after restart: pid %d (was %d), old group alive %v", second, first, groupAlive(first))
	}
	if u, err := c.User(ctx, "alice@example.com"); err != nil || !u.IsAdmin {
		t.Fatalf("User after restart = %+v, %v", u, err)
	}

	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
		runErr <- nil // for the deferred receive
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after cancel")
	}
	if groupAlive(second) {
		t.Errorf("process group %d still alive after Run returned", second)
	}
}

func groupAlive(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }

// checkUnauthenticated: a request without assertion gets the plugin's 401.
func checkUnauthenticated(t *testing.T, s *Supervisor) {
	t.Helper()
	resp, err := http.Get(s.URL().String() + "/api/2.0/mlflow/experiments/search?max_results=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		ErrorCode string `json:"error_code"`
	}
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "" ||
		json.Unmarshal(body, &e) != nil || e.ErrorCode != "UNAUTHENTICATED" {
		t.Errorf("no assertion: %d %v %s; want 401 UNAUTHENTICATED without challenge", resp.StatusCode, resp.Header, body)
	}
}
