package routepolicy

import (
	"strings"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/classify"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

func TestAdminOnly(t *testing.T) {
	t.Parallel()
	c, err := classify.New(classify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	admins, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	users, err := New(Options{AssistantSetup: AssistantSetupUsers})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		want         event.Reason // for the default policy
	}{
		// The assistant's setup: configuration and skills on the server.
		{"PUT", "/ajax-api/3.0/mlflow/assistant/config", "assistant_setup"},
		{"POST", "/ajax-api/3.0/mlflow/assistant/skills/install", "assistant_setup"},
		// A route MLflow might add (unknown to the table): setup until listed.
		{"DELETE", "/ajax-api/3.0/mlflow/assistant/skills", "assistant_setup"},
		{"POST", "/ajax-api/3.0/mlflow/assistant/providers/claude_code/reset", "assistant_setup"},
		// Using the assistant and reading its settings: MLflow decides.
		{"GET", "/ajax-api/3.0/mlflow/assistant/config", ""},
		{"GET", "/ajax-api/3.0/mlflow/assistant/providers", ""},
		{"GET", "/ajax-api/3.0/mlflow/assistant/providers/claude_code/health", ""},
		{"GET", "/ajax-api/3.0/mlflow/assistant/providers/claude_code/models", ""},
		{"POST", "/ajax-api/3.0/mlflow/assistant/message", ""},
		{"GET", "/ajax-api/3.0/mlflow/assistant/sessions/s-1/stream", ""},
		{"PATCH", "/ajax-api/3.0/mlflow/assistant/sessions/s-1", ""},
		{"POST", "/ajax-api/3.0/mlflow/assistant/sessions/s-1/permission", ""},
		{"POST", "/ajax-api/3.0/mlflow/assistant/sessions/s-1/tool-result", ""},
		// Other FastAPI-native families: MLflow's RBAC.
		{"POST", "/ajax-api/3.0/jobs/", ""},
		{"POST", "/v1/traces", ""},
		{"POST", "/gateway/mlflow/v1/chat/completions", ""},
		{"POST", "/api/3.0/mlflow/mcp-servers", ""},
		{"POST", "/api/2.0/mlflow/experiments/create", ""},
	}
	for _, tt := range tests {
		rt, err := c.Route(tt.method, tt.path)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		if got := admins.AdminOnly(rt, tt.path); got != tt.want {
			t.Errorf("%s %s: AdminOnly = %q; want %q", tt.method, tt.path, got, tt.want)
		}
		if got := users.AdminOnly(rt, tt.path); got != "" {
			t.Errorf("%s %s: with assistant setup open to users, AdminOnly = %q", tt.method, tt.path, got)
		}
	}
}

// Every state-changing assistant route of the installed MLflow's table is
// either listed as chat or reserved: none is left to chance.
func TestEveryAssistantRouteIsDecided(t *testing.T) {
	t.Parallel()
	p, _ := New(Options{})
	c, err := classify.New(classify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for key := range assistantChat {
		method, pattern, _ := strings.Cut(key, " ")
		path := strings.ReplaceAll(pattern, "{session_id}", "s-1")
		rt, err := c.Route(method, path)
		if err != nil || !rt.Known || rt.Pattern != pattern {
			t.Errorf("chat route %s is not in MLflow's table (got %+v, %v): remove it", key, rt, err)
		}
		if p.AdminOnly(rt, path) != "" {
			t.Errorf("chat route %s is reserved", key)
		}
		seen++
	}
	if seen != 4 {
		t.Fatalf("%d chat routes", seen)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"", "admins", "users"} {
		if _, err := New(Options{AssistantSetup: v}); err != nil {
			t.Errorf("%q: %v", v, err)
		}
	}
	if _, err := New(Options{AssistantSetup: "everyone"}); err == nil {
		t.Error("unknown value accepted")
	}
}
