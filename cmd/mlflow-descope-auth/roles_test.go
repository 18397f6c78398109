package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/rolemap"
)

func TestTransient(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/x", Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	api := func(status int) error { return &mlflow.APIError{Op: "create role", StatusCode: status, Code: "X"} }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused", fmt.Errorf("provision: list roles: mlflow: list roles: %w", refused), true},
		{"reset mid-body", fmt.Errorf("mlflow: read response: %w", syscall.ECONNRESET), true},
		{"truncated", fmt.Errorf("mlflow: read response: %w", io.ErrUnexpectedEOF), true},
		{"timeout", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"503", fmt.Errorf("provision: %w", api(503)), true},
		{"429", api(429), true},
		{"400 refused", fmt.Errorf("provision: %w", api(400)), false},
		{"403 refused", api(403), false},
		{"our own config error", errors.New(`provision: role "x" names workspace "w" but workspaces are off`), false},
		{"refusal joined with a crash", fmt.Errorf("wrapped: %w", errors.Join(api(400), refused)), true},
		{"crash joined after refusal", errors.Join(fmt.Errorf("a: %w", api(404)), fmt.Errorf("b: %w", api(502))), true},
		{"two refusals", errors.Join(api(400), api(409)), false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("%s: transient(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// fakeRoles is an MLflow whose roles/list answers with fail for the first
// failures calls, then with an empty list.
func fakeRoles(t *testing.T, failures int32, fail func(w http.ResponseWriter)) (*provisioner, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/3.0/mlflow/roles/list" {
			http.NotFound(w, r)
			return
		}
		if calls.Add(1) <= failures {
			fail(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"roles": []}`)
	}))
	t.Cleanup(srv.Close)
	client, err := mlflow.NewClient(srv.URL, "admin", func(string) (string, error) { return "v1.x.y", nil }, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	p, err := provision.New(provision.Options{MLflow: client})
	if err != nil {
		t.Fatal(err)
	}
	return &provisioner{p: p, log: slog.New(slog.DiscardHandler), retryBase: time.Millisecond}, &calls
}

// hangUp drops the connection without an answer, as a crashing MLflow does.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestMappingWaitsOutMLflowOutages: MLflow dying or answering 503 while the
// mapping is applied must not stop the gateway (it did: CI once killed MLflow
// mid-apply and the whole gateway exited); it is applied once MLflow is back,
// and /ready says so only then.
func TestMappingWaitsOutMLflowOutages(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(http.ResponseWriter)
	}{
		{"connection dropped", hangUp},
		{"503", func(w http.ResponseWriter) { http.Error(w, "starting", http.StatusServiceUnavailable) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, calls := fakeRoles(t, 3, tc.fail)
			if a.mappingReady() {
				t.Fatal("mapping ready before it was applied")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.run(ctx, &upstream{}); err != nil {
				t.Fatalf("run: %v", err)
			}
			if !a.mappingReady() {
				t.Error("mapping not ready after it was applied")
			}
			if n := calls.Load(); n != 4 {
				t.Errorf("roles/list called %d times, want 4 (3 failures, 1 success)", n)
			}
		})
	}
}

// TestRefusedMappingStopsTheGateway: a 4xx from MLflow is a mapping MLflow
// will never take; retrying would hide it, so run fails at once.
func TestRefusedMappingStopsTheGateway(t *testing.T) {
	a, calls := fakeRoles(t, 1000, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error_code": "INVALID_PARAMETER_VALUE", "message": "bad role"}`)
	})
	err := a.run(context.Background(), &upstream{})
	if err == nil || !errors.Is(err, mlflow.ErrInvalidParameter) {
		t.Fatalf("run = %v, want the refusal", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("roles/list called %d times, want 1", n)
	}
	if a.mappingReady() {
		t.Error("mapping ready after MLflow refused it")
	}
}

// TestMappingRetryEndsWithContext: a gateway told to stop while MLflow is
// still down stops cleanly.
func TestMappingRetryEndsWithContext(t *testing.T) {
	a, _ := fakeRoles(t, 1<<30, hangUp)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := a.run(ctx, &upstream{}); err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
}

// TestSyncStatusShowsBlockedUsers: the admin page lists who is refused, also
// on a replica that runs no sync job of its own.
func TestSyncStatusShowsBlockedUsers(t *testing.T) {
	deny := denylist.Memory()
	if _, err := deny.Block(context.Background(), "U2mallory", "deleted in descope"); err != nil {
		t.Fatal(err)
	}
	st, ok := (&provisioner{deny: deny}).syncStatus().(map[string]any)
	if !ok {
		t.Fatalf("status is %T", st)
	}
	if st["enabled"] != false {
		t.Errorf("enabled = %v without a syncer", st["enabled"])
	}
	blocked, _ := st["blocked_users"].(map[string]string)
	if blocked["U2mallory"] != "deleted in descope" || len(blocked) != 1 {
		t.Errorf("blocked_users = %v", st["blocked_users"])
	}
	if st["blocked_users_shared"] != false {
		t.Errorf("a memory list reported as shared")
	}
}

// TestBoundKeySharesUsernameOnlyWhenSure: with permission rules in the
// mapping, a user record (roles only) cannot show the user's permissions,
// so a key never shares the user's MLflow username; with role rules only,
// the same roles share it and other roles do not.
func TestBoundKeySharesUsernameOnlyWhenSure(t *testing.T) {
	parse := func(src string) *rolemap.Mapping {
		m, err := rolemap.Parse("roles.json", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	byRole := parse(`{"roles": [{"descope_role": "ml-editor", "mlflow_role": "editors",
	  "grants": [{"resource_type": "experiment", "pattern": "*", "permission": "EDIT"}]}]}`)
	byPermission := parse(`{"roles": [{"descope_permission": "mlflow:edit", "mlflow_role": "editors",
	  "grants": [{"resource_type": "experiment", "pattern": "*", "permission": "EDIT"}]}]}`)
	user := &descope.User{UserID: "U2alice", RoleNames: []string{"ml-editor"}}
	for _, tc := range []struct {
		name    string
		mapping *rolemap.Mapping
		key     descope.Token
		want    bool
	}{
		{"role rules, same roles", byRole, descope.Token{Roles: []string{"ml-editor"}}, true},
		{"role rules, fewer roles", byRole, descope.Token{}, false},
		// The user's ml-editor role may carry mlflow:edit; the key has none.
		{"permission rules, key without permissions", byPermission, descope.Token{}, false},
		{"permission rules, same roles", byPermission, descope.Token{Roles: []string{"ml-editor"}}, false},
	} {
		p, err := provision.New(provision.Options{MLflow: &mlflow.Client{}, Mapping: tc.mapping})
		if err != nil {
			t.Fatal(err)
		}
		a := &provisioner{p: p, mapping: tc.mapping}
		if got := a.sameAsUser(&tc.key, user); got != tc.want {
			t.Errorf("%s: sameAsUser = %v, want %v", tc.name, got, tc.want)
		}
	}
}
