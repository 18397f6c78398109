// Package rolemap reads the role-mapping file, which says what Descope roles,
// permissions and tenants mean in MLflow, and resolves a user's Descope claims
// to MLflow decisions (admin flag, roles, workspaces), each with the rule that
// made it. It does no I/O besides Load; provisioning applies the result.
//
// The file is JSON; // and /* */ comments are allowed. See docs/roles.md.
package rolemap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Permission levels of MLflow 3.17's RBAC.
const (
	NoPermissions = "NO_PERMISSIONS"
	Read          = "READ"
	Use           = "USE"
	Edit          = "EDIT"
	Manage        = "MANAGE"
	Deny          = "DENY"
)

// DefaultWorkspace is MLflow's workspace when workspaces are off, and the one
// a request without X-MLFLOW-WORKSPACE lands in when they are on.
const DefaultWorkspace = "default"

// Any, as a tenant rule's descope_role, matches every member of a tenant,
// whatever their roles there.
const Any = "*"

// ResourceTypes are the resource types MLflow 3.17 accepts in a role grant
// (mlflow/server/auth/permissions.py TYPE), each with whether a grant may
// name one resource (true) or only "*" (false).
var resourceTypes = map[string]bool{
	"workspace":                false,
	"experiment":               true,
	"registered_model":         true,
	"prompt":                   true,
	"scorer":                   true,
	"gateway_secret":           true,
	"gateway_endpoint":         true,
	"gateway_model_definition": true,
	"mcp_server":               true,
	"run":                      false,
	"trace":                    false,
	"assessment":               false,
	"logged_model":             false,
	"review_queue":             false,
	"registered_model_version": false,
	"prompt_version":           false,
	"scorer_version":           false,
	"mcp_server_version":       false,
}

// ResourceTypes returns the resource types a grant may name, sorted.
func ResourceTypes() []string {
	out := make([]string, 0, len(resourceTypes))
	for k := range resourceTypes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// permissionRank orders permissions; DENY is below everything.
var permissionRank = map[string]int{Deny: -1, NoPermissions: 0, Read: 1, Use: 2, Edit: 3, Manage: 4}

// Mapping is a parsed role-mapping file. It is immutable once returned.
type Mapping struct {
	// Source names the file in reasons ("roles.json").
	Source string
	// AdminRoles and AdminPermissions are project-level Descope roles and
	// permissions that make a user an MLflow admin (in addition to
	// DESCOPE_ADMIN_ROLES, passed to Resolve).
	AdminRoles       []Named
	AdminPermissions []Named
	// Roles map project-level (or, with scope "any", also tenant-level)
	// Descope roles or permissions to an MLflow role in a fixed workspace.
	Roles []Rule
	// TenantRoles map a Descope role or permission held in a tenant to a role
	// in that tenant's workspace (workspaces on only).
	TenantRoles []TenantRule
	// Tenants override the workspace name of individual tenants.
	Tenants []TenantWorkspace
}

// Named is a name from the file and the line it is on.
type Named struct {
	Name string
	Line int
}

// Grant is one permission an MLflow role holds.
type Grant struct {
	ResourceType string
	Pattern      string
	Permission   string
}

// Rule maps a Descope role or permission to an MLflow role.
type Rule struct {
	DescopeRole       string // exactly one of DescopeRole and DescopePermission is set
	DescopePermission string
	// Scope is "project" (the default: project-level claims only) or "any"
	// (project-level or held in any tenant).
	Scope       string
	MLflowRole  string
	Description string
	Workspace   string // default DefaultWorkspace
	Grants      []Grant
	Line        int
}

// TenantRule maps a Descope role or permission held in a tenant to a role in
// that tenant's workspace, holding (workspace, "*", WorkspacePermission)
// plus Grants.
type TenantRule struct {
	DescopeRole       string // a role name, or Any
	DescopePermission string
	Tenant            string // only this tenant ID; empty for every tenant
	MLflowRole        string // default "tenant-" + the sanitized role or permission
	Description       string
	// WorkspacePermission is USE (member) or MANAGE (workspace admin).
	WorkspacePermission string
	Grants              []Grant
	Line                int
}

// TenantWorkspace names the workspace of one tenant explicitly.
type TenantWorkspace struct {
	TenantID  string
	Workspace string
	Line      int
}

// Error is a problem at a place in the mapping file.
type Error struct {
	File      string
	Line, Col int
	Path      string // e.g. roles[0].grants[1].permission
	Msg       string
}

func (e *Error) Error() string {
	where := fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Col)
	if e.Path != "" {
		return fmt.Sprintf("rolemap: %s: %s: %s", where, e.Path, e.Msg)
	}
	return fmt.Sprintf("rolemap: %s: %s", where, e.Msg)
}

// Load reads and parses the mapping file at path. Problems are reported all
// at once, joined; each is an *Error naming its line.
func Load(path string) (*Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rolemap: %w", err)
	}
	return Parse(filepath.Base(path), data)
}

// Parse parses a mapping file's contents; name is used in errors and reasons.
func Parse(name string, data []byte) (*Mapping, error) {
	clean, err := stripComments(data)
	if err != nil {
		return nil, at(name, data, err)
	}
	root, err := parseTree(clean)
	if err != nil {
		return nil, at(name, data, err)
	}
	d := &decoder{file: name, data: data}
	m := d.mapping(root)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	m.Source = name
	return m, nil
}

func at(name string, data []byte, err error) error {
	var pe *posError
	if errors.As(err, &pe) {
		l, c := lineCol(data, pe.off)
		return &Error{File: name, Line: l, Col: c, Msg: pe.msg}
	}
	return fmt.Errorf("rolemap: %s: %w", name, err)
}

// Empty returns a mapping with no rules: only DESCOPE_ADMIN_ROLES matter.
func Empty() *Mapping { return &Mapping{Source: "(no mapping file)"} }

// UsesPermissions reports whether any rule matches Descope permissions
// rather than roles. A user's permissions are not in their user record,
// only derived from role definitions (or carried in a token).
func (m *Mapping) UsesPermissions() bool {
	if len(m.AdminPermissions) > 0 {
		return true
	}
	for _, r := range m.Roles {
		if r.DescopePermission != "" {
			return true
		}
	}
	for _, r := range m.TenantRoles {
		if r.DescopePermission != "" {
			return true
		}
	}
	return false
}

// TenantRoleFor returns the tenant rule that defines role name, if any.
func (m *Mapping) TenantRoleFor(name string) (TenantRule, bool) {
	for _, r := range m.TenantRoles {
		if r.MLflowRole == name {
			return r, true
		}
	}
	return TenantRule{}, false
}

// TenantGrants returns every grant a tenant rule's role holds: the workspace
// grant first, then the rule's own.
func (r TenantRule) TenantGrants() []Grant {
	return append([]Grant{{ResourceType: "workspace", Pattern: "*", Permission: r.WorkspacePermission}}, r.Grants...)
}

// sanitizeRoleName makes a Descope name usable in a generated MLflow role
// name: lowercase letters, digits and hyphens.
func sanitizeRoleName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}
