package rolemap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadGood(t *testing.T) {
	t.Parallel()
	m, err := Load(filepath.Join("testdata", "good.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Source != "good.json" {
		t.Errorf("Source = %q", m.Source)
	}
	if diff := cmp.Diff([]Named{{"platform-admin", 3}}, m.AdminRoles); diff != "" {
		t.Errorf("AdminRoles (-want +got):\n%s", diff)
	}
	wantRoles := []Rule{
		{DescopeRole: "ml-editor", Scope: "project", MLflowRole: "editors", Description: "edit everything", Workspace: "default", Line: 7,
			Grants: []Grant{{"experiment", "*", "EDIT"}, {"registered_model", "*", "EDIT"}, {"prompt", "*", "READ"}}},
		{DescopePermission: "mlflow:read", Scope: "project", MLflowRole: "viewers", Workspace: "default", Line: 11,
			Grants: []Grant{{"experiment", "*", "READ"}}},
		{DescopeRole: "auditor", Scope: "any", MLflowRole: "auditors", Workspace: "default", Line: 13,
			Grants: []Grant{{"run", "*", "READ"}}},
	}
	if diff := cmp.Diff(wantRoles, m.Roles); diff != "" {
		t.Errorf("Roles (-want +got):\n%s", diff)
	}
	wantTenant := []TenantRule{
		{DescopeRole: "tenant-admin", MLflowRole: "tenant-tenant-admin", WorkspacePermission: "MANAGE", Line: 18},
		{DescopeRole: "member", MLflowRole: "tenant-member", WorkspacePermission: "USE", Line: 19, Grants: []Grant{{"experiment", "*", "EDIT"}}},
		{DescopeRole: "*", Tenant: "T2Partner", MLflowRole: "partner-guests", WorkspacePermission: "USE", Line: 21},
	}
	if diff := cmp.Diff(wantTenant, m.TenantRoles); diff != "" {
		t.Errorf("TenantRoles (-want +got):\n%s", diff)
	}
	if got := m.WorkspaceName("T2Research"); got != "research" {
		t.Errorf("WorkspaceName(T2Research) = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      string // a substring of the error, which names file:line:col
	}{
		{"syntax", "{\n  \"roles\": [\n    {\"descope_role\": \"x\",}\n  ]\n}", "m.json:3:"},
		{"unterminated comment", "{\n /* oops\n}", "m.json:2:2: unterminated /* comment"},
		{"trailing data", "{}\n{}", "m.json:2:"},
		{"not an object", "[]", "m.json:1:1: must be an object, not an array"},
		{"unknown top-level field", "{\n  \"rolez\": []\n}", "m.json:2:3: rolez: unknown field \"rolez\""},
		{"unknown rule field", "{\"roles\": [\n {\"descope_role\": \"a\", \"mlflow_role\": \"b\",\n  \"grant\": []}]}", "m.json:3:3: roles[0].grant: unknown field"},
		{"duplicate key", "{\"roles\": [],\n \"roles\": []}", "m.json:2:2: duplicate key \"roles\""},
		{"unknown permission", "{\"roles\": [{\"descope_role\": \"a\", \"mlflow_role\": \"b\", \"grants\": [\n  {\"resource_type\": \"experiment\", \"pattern\": \"*\", \"permission\": \"WRITE\"}]}]}",
			"m.json:2:65: roles[0].grants[0].permission: unknown permission \"WRITE\""},
		{"no_permissions grant", "{\"roles\": [{\"descope_role\": \"a\", \"mlflow_role\": \"b\", \"grants\": [\n{\"resource_type\": \"experiment\", \"permission\": \"NO_PERMISSIONS\"}]}]}",
			"m.json:2:47: roles[0].grants[0].permission: NO_PERMISSIONS cannot be granted"},
		{"unknown resource type", "{\"roles\": [{\"descope_role\": \"a\", \"mlflow_role\": \"b\", \"grants\": [\n{\"resource_type\": \"dataset\", \"permission\": \"READ\"}]}]}",
			"m.json:2:19: roles[0].grants[0].resource_type: unknown resource type \"dataset\""},
		{"id pattern on wildcard-only type", "{\"roles\": [{\"descope_role\": \"a\", \"mlflow_role\": \"b\", \"grants\": [\n{\"resource_type\": \"run\", \"pattern\": \"abc\", \"permission\": \"READ\"}]}]}",
			"m.json:2:37: roles[0].grants[0].pattern: MLflow accepts only \"*\""},
		{"workspace grant READ", "{\"roles\": [{\"descope_role\": \"a\", \"mlflow_role\": \"b\", \"grants\": [\n{\"resource_type\": \"workspace\", \"permission\": \"READ\"}]}]}",
			"m.json:2:46: roles[0].grants[0].permission: a workspace grant must be USE or MANAGE"},
		{"duplicate grant", "{\"roles\": [{\"descope_role\": \"a\", \"mlflow_role\": \"b\", \"grants\": [\n{\"resource_type\": \"experiment\", \"permission\": \"READ\"},\n{\"resource_type\": \"experiment\", \"permission\": \"EDIT\"}]}]}",
			"m.json:3:1: roles[0].grants[1]: duplicate grant on experiment \"*\" (first on line 2)"},
		{"duplicate mlflow role", "{\"roles\": [\n{\"descope_role\": \"a\", \"mlflow_role\": \"r\"},\n{\"descope_role\": \"b\", \"mlflow_role\": \"r\"}]}",
			"m.json:3:1: roles[1].mlflow_role: duplicate mlflow_role \"r\" in workspace \"default\" (first defined on line 2)"},
		{"duplicate descope role", "{\"roles\": [\n{\"descope_role\": \"a\", \"mlflow_role\": \"r\"},\n{\"descope_role\": \"a\", \"mlflow_role\": \"s\"}]}",
			"m.json:3:1: roles[1]: duplicate rule for descope_role \"a\" (first defined on line 2)"},
		{"both matchers", "{\"roles\": [\n{\"descope_role\": \"a\", \"descope_permission\": \"p\", \"mlflow_role\": \"r\"}]}", "m.json:2:1: roles[0]: set exactly one of descope_role and descope_permission"},
		{"missing mlflow role", "{\"roles\": [\n{\"descope_role\": \"a\"}]}", "m.json:2:1: roles[0].mlflow_role: is required"},
		{"reserved role name", "{\"roles\": [\n{\"descope_role\": \"a\", \"mlflow_role\": \"__user_1__\"}]}", "m.json:2:38: roles[0].mlflow_role: the prefix \"__user_\" is reserved"},
		{"bad scope", "{\"roles\": [\n{\"descope_role\": \"a\", \"mlflow_role\": \"r\", \"scope\": \"tenant\"}]}", "m.json:2:52: roles[0].scope: must be \"project\" or \"any\""},
		{"wrong type", "{\"admin_roles\": \"admin\"}", "m.json:1:17: admin_roles: must be an array, not a string"},
		{"tenant permission READ", "{\"tenant_roles\": [\n{\"descope_role\": \"m\", \"workspace_permission\": \"READ\"}]}", "m.json:2:47: tenant_roles[0].workspace_permission: must be USE or MANAGE"},
		{"tenant permission missing", "{\"tenant_roles\": [\n{\"descope_role\": \"m\"}]}", "m.json:2:1: tenant_roles[0].workspace_permission: is required"},
		{"bad workspace override", "{\"tenants\": [\n{\"tenant_id\": \"T1\", \"workspace\": \"Research\"}]}", "m.json:2:34: tenants[0].workspace: rolemap: workspace name \"Research\" must be lowercase"},
		{"reserved workspace override", "{\"tenants\": [\n{\"tenant_id\": \"T1\", \"workspace\": \"default\"}]}", "is reserved by MLflow"},
		{"duplicate workspace override", "{\"tenants\": [\n{\"tenant_id\": \"T1\", \"workspace\": \"ws\"},\n{\"tenant_id\": \"T2\", \"workspace\": \"ws\"}]}", "m.json:3:1: tenants[1]: workspace \"ws\" is already used by the tenant on line 2"},
		{"star outside tenant rules", "{\"roles\": [\n{\"descope_role\": \"*\", \"mlflow_role\": \"r\"}]}", "m.json:2:18: roles[0].descope_role: \"*\" is only allowed in tenant_roles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("m.json", []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded; want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %q; want it to contain %q", err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Line == 0 {
				t.Errorf("error %v is not an *Error with a line", err)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := Parse("m.json", []byte("{\"roles\": [\n{\"descope_role\": \"a\"},\n{\"descope_role\": \"b\", \"mlflow_role\": \"x\", \"bogus\": 1}]}"))
	if err == nil || !strings.Contains(err.Error(), "m.json:2:") || !strings.Contains(err.Error(), "m.json:3:") {
		t.Errorf("err = %v; want problems on lines 2 and 3", err)
	}
}

func TestLoadMissing(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.json"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "rolemap: ") {
		t.Errorf("Load(missing) = %v; want a rolemap error wrapping ErrNotExist", err)
	}
}

func TestCommentsInStrings(t *testing.T) {
	t.Parallel()
	m, err := Parse("m.json", []byte(`{"roles": [{"descope_role": "a//b", "mlflow_role": "r/*x*/", "description": "http://x"}]} // end`))
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Roles[0]; r.DescopeRole != "a//b" || r.MLflowRole != "r/*x*/" || r.Description != "http://x" {
		t.Errorf("strings with comment markers were changed: %+v", r)
	}
}
