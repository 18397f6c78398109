package rolemap

import (
	"fmt"
	"slices"
	"strings"
)

// decoder turns a parsed tree into a Mapping, collecting every problem.
type decoder struct {
	file string
	data []byte
	errs []error
}

func (d *decoder) errAt(off int64, path, format string, args ...any) {
	l, c := lineCol(d.data, off)
	d.errs = append(d.errs, &Error{File: d.file, Line: l, Col: c, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) line(off int64) int {
	l, _ := lineCol(d.data, off)
	return l
}

// object checks n is an object with only the allowed keys and returns its
// fields by key.
func (d *decoder) object(n *node, path string, allowed ...string) map[string]*node {
	if n.kind != 'o' {
		d.errAt(n.off, path, "must be an object, not %s", kindName(n.kind))
		return nil
	}
	out := map[string]*node{}
	for _, f := range n.fields {
		if !slices.Contains(allowed, f.key) {
			d.errAt(f.keyOff, join(path, f.key), "unknown field %q (known: %s)", f.key, strings.Join(allowed, ", "))
			continue
		}
		out[f.key] = f.val
	}
	return out
}

func (d *decoder) array(n *node, path string) []*node {
	if n == nil {
		return nil
	}
	if n.kind != 'a' {
		d.errAt(n.off, path, "must be an array, not %s", kindName(n.kind))
		return nil
	}
	return n.items
}

func (d *decoder) str(n *node, path string) string {
	if n == nil {
		return ""
	}
	if n.kind != 's' {
		d.errAt(n.off, path, "must be a string, not %s", kindName(n.kind))
		return ""
	}
	return n.str
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func (d *decoder) mapping(root *node) *Mapping {
	m := &Mapping{}
	top := d.object(root, "", "admin_roles", "admin_permissions", "roles", "tenant_roles", "tenants")
	if top == nil {
		return m
	}
	m.AdminRoles = d.names(top["admin_roles"], "admin_roles")
	m.AdminPermissions = d.names(top["admin_permissions"], "admin_permissions")
	roleNames := map[string]int64{} // workspace/name → offset
	matchers := map[string]int64{}
	for i, n := range d.array(top["roles"], "roles") {
		r, ok := d.rule(n, index("roles", i))
		if !ok {
			continue
		}
		key := r.Workspace + "/" + r.MLflowRole
		if prev, dup := roleNames[key]; dup {
			d.errAt(n.off, index("roles", i)+".mlflow_role", "duplicate mlflow_role %q in workspace %q (first defined on line %d)", r.MLflowRole, r.Workspace, d.line(prev))
			continue
		}
		roleNames[key] = n.off
		mk := r.Scope + "|" + r.DescopeRole + "|" + r.DescopePermission
		if prev, dup := matchers[mk]; dup {
			d.errAt(n.off, index("roles", i), "duplicate rule for %s (first defined on line %d): put every grant in one role", describeMatch(r.DescopeRole, r.DescopePermission), d.line(prev))
			continue
		}
		matchers[mk] = n.off
		m.Roles = append(m.Roles, r)
	}
	tenantNames := map[string]int64{}
	tenantMatchers := map[string]int64{}
	for i, n := range d.array(top["tenant_roles"], "tenant_roles") {
		r, ok := d.tenantRule(n, index("tenant_roles", i))
		if !ok {
			continue
		}
		if prev, dup := tenantNames[r.MLflowRole]; dup {
			d.errAt(n.off, index("tenant_roles", i)+".mlflow_role", "duplicate mlflow_role %q (first defined on line %d)", r.MLflowRole, d.line(prev))
			continue
		}
		tenantNames[r.MLflowRole] = n.off
		mk := r.Tenant + "|" + r.DescopeRole + "|" + r.DescopePermission
		if prev, dup := tenantMatchers[mk]; dup {
			d.errAt(n.off, index("tenant_roles", i), "duplicate rule for %s (first defined on line %d)", describeMatch(r.DescopeRole, r.DescopePermission), d.line(prev))
			continue
		}
		tenantMatchers[mk] = n.off
		m.TenantRoles = append(m.TenantRoles, r)
	}
	seenTenant := map[string]int64{}
	seenWS := map[string]int64{}
	for i, n := range d.array(top["tenants"], "tenants") {
		path := index("tenants", i)
		f := d.object(n, path, "tenant_id", "workspace")
		if f == nil {
			continue
		}
		t := TenantWorkspace{TenantID: d.str(f["tenant_id"], path+".tenant_id"), Workspace: d.str(f["workspace"], path+".workspace"), Line: d.line(n.off)}
		switch {
		case t.TenantID == "":
			d.errAt(n.off, path+".tenant_id", "is required")
		case t.Workspace == "":
			d.errAt(n.off, path+".workspace", "is required")
		default:
			if err := ValidWorkspaceName(t.Workspace); err != nil {
				d.errAt(f["workspace"].off, path+".workspace", "%v", err)
			} else if prev, dup := seenTenant[t.TenantID]; dup {
				d.errAt(n.off, path, "duplicate tenant_id %q (first on line %d)", t.TenantID, d.line(prev))
			} else if prev, dup := seenWS[t.Workspace]; dup {
				d.errAt(n.off, path, "workspace %q is already used by the tenant on line %d", t.Workspace, d.line(prev))
			} else {
				seenTenant[t.TenantID], seenWS[t.Workspace] = n.off, n.off
				m.Tenants = append(m.Tenants, t)
			}
		}
	}
	return m
}

func (d *decoder) names(n *node, path string) []Named {
	var out []Named
	seen := map[string]bool{}
	for i, it := range d.array(n, path) {
		s := d.str(it, index(path, i))
		switch {
		case it.kind != 's':
		case strings.TrimSpace(s) == "":
			d.errAt(it.off, index(path, i), "must not be empty")
		case seen[s]:
			d.errAt(it.off, index(path, i), "duplicate %q", s)
		default:
			seen[s] = true
			out = append(out, Named{Name: s, Line: d.line(it.off)})
		}
	}
	return out
}

// matcher reads descope_role / descope_permission: exactly one must be set.
func (d *decoder) matcher(n *node, f map[string]*node, path string) (role, perm string, ok bool) {
	role = d.str(f["descope_role"], path+".descope_role")
	perm = d.str(f["descope_permission"], path+".descope_permission")
	if (role == "") == (perm == "") {
		d.errAt(n.off, path, "set exactly one of descope_role and descope_permission")
		return "", "", false
	}
	return role, perm, true
}

func (d *decoder) rule(n *node, path string) (Rule, bool) {
	f := d.object(n, path, "descope_role", "descope_permission", "scope", "mlflow_role", "description", "workspace", "grants")
	if f == nil {
		return Rule{}, false
	}
	errs := len(d.errs)
	r := Rule{Line: d.line(n.off)}
	r.DescopeRole, r.DescopePermission, _ = d.matcher(n, f, path)
	if r.DescopeRole == Any {
		d.errAt(f["descope_role"].off, path+".descope_role", "%q is only allowed in tenant_roles", Any)
	}
	r.Scope = d.str(f["scope"], path+".scope")
	switch r.Scope {
	case "":
		r.Scope = "project"
	case "project", "any":
	default:
		d.errAt(f["scope"].off, path+".scope", "must be \"project\" or \"any\", not %q", r.Scope)
	}
	r.MLflowRole = d.roleName(f["mlflow_role"], path+".mlflow_role", n.off)
	r.Description = d.str(f["description"], path+".description")
	r.Workspace = d.str(f["workspace"], path+".workspace")
	if r.Workspace == "" {
		r.Workspace = DefaultWorkspace
	} else if r.Workspace != DefaultWorkspace {
		if err := ValidWorkspaceName(r.Workspace); err != nil {
			d.errAt(f["workspace"].off, path+".workspace", "%v", err)
		}
	}
	r.Grants = d.grants(f["grants"], path+".grants")
	return r, len(d.errs) == errs
}

func (d *decoder) tenantRule(n *node, path string) (TenantRule, bool) {
	f := d.object(n, path, "descope_role", "descope_permission", "tenant", "mlflow_role", "description", "workspace_permission", "grants")
	if f == nil {
		return TenantRule{}, false
	}
	errs := len(d.errs)
	r := TenantRule{Line: d.line(n.off)}
	r.DescopeRole, r.DescopePermission, _ = d.matcher(n, f, path)
	r.Tenant = d.str(f["tenant"], path+".tenant")
	if f["mlflow_role"] != nil {
		r.MLflowRole = d.roleName(f["mlflow_role"], path+".mlflow_role", n.off)
	} else {
		base := r.DescopeRole
		if base == Any {
			base = "member"
		} else if base == "" {
			base = r.DescopePermission
		}
		if r.MLflowRole = "tenant-" + sanitizeRoleName(base); r.MLflowRole == "tenant-" {
			d.errAt(n.off, path+".mlflow_role", "cannot derive a role name; set mlflow_role")
		}
	}
	r.Description = d.str(f["description"], path+".description")
	r.WorkspacePermission = d.str(f["workspace_permission"], path+".workspace_permission")
	switch r.WorkspacePermission {
	case Use, Manage:
	case "":
		d.errAt(n.off, path+".workspace_permission", "is required (USE for members, MANAGE for workspace admins)")
	default:
		d.errAt(f["workspace_permission"].off, path+".workspace_permission", "must be USE or MANAGE (MLflow accepts no other workspace-wide grant), not %q", r.WorkspacePermission)
	}
	r.Grants = d.grants(f["grants"], path+".grants")
	for i, g := range r.Grants {
		if g.ResourceType == "workspace" {
			d.errAt(n.off, index(path+".grants", i), "set workspace_permission instead of a workspace grant")
		}
	}
	return r, len(d.errs) == errs
}

func (d *decoder) roleName(n *node, path string, parent int64) string {
	s := d.str(n, path)
	switch {
	case n == nil:
		d.errAt(parent, path, "is required")
	case n.kind != 's':
	case strings.TrimSpace(s) != s || s == "":
		d.errAt(n.off, path, "must be a non-empty name without surrounding spaces")
	case strings.HasPrefix(s, "__user_"):
		d.errAt(n.off, path, "the prefix \"__user_\" is reserved by MLflow")
	case len(s) > 255:
		d.errAt(n.off, path, "is longer than 255 characters")
	}
	return s
}

func (d *decoder) grants(n *node, path string) []Grant {
	var out []Grant
	seen := map[string]int64{}
	for i, it := range d.array(n, path) {
		p := index(path, i)
		f := d.object(it, p, "resource_type", "pattern", "permission")
		if f == nil {
			continue
		}
		g := Grant{
			ResourceType: d.str(f["resource_type"], p+".resource_type"),
			Pattern:      d.str(f["pattern"], p+".pattern"),
			Permission:   d.str(f["permission"], p+".permission"),
		}
		if g.Pattern == "" && f["pattern"] == nil {
			g.Pattern = "*"
		}
		ok := true
		perID, known := resourceTypes[g.ResourceType]
		switch {
		case f["resource_type"] == nil:
			d.errAt(it.off, p+".resource_type", "is required")
			ok = false
		case !known:
			d.errAt(f["resource_type"].off, p+".resource_type", "unknown resource type %q (MLflow 3.17 knows: %s)", g.ResourceType, strings.Join(ResourceTypes(), ", "))
			ok = false
		case g.Pattern == "":
			d.errAt(f["pattern"].off, p+".pattern", "must not be empty (use \"*\" for all)")
			ok = false
		case !perID && g.Pattern != "*":
			d.errAt(f["pattern"].off, p+".pattern", "MLflow accepts only \"*\" for resource type %q", g.ResourceType)
			ok = false
		}
		if msg := permissionProblem(g.ResourceType, g.Permission); msg != "" {
			off := it.off
			if f["permission"] != nil {
				off = f["permission"].off
			}
			d.errAt(off, p+".permission", "%s", msg)
			ok = false
		}
		if !ok {
			continue
		}
		key := g.ResourceType + "|" + g.Pattern
		if prev, dup := seen[key]; dup {
			d.errAt(it.off, p, "duplicate grant on %s %q (first on line %d)", g.ResourceType, g.Pattern, d.line(prev))
			continue
		}
		seen[key] = it.off
		out = append(out, g)
	}
	return out
}

// permissionProblem says why MLflow 3.17 would refuse permission on a grant
// of resourceType, or "" if it would accept it.
func permissionProblem(resourceType, permission string) string {
	if permission == "" {
		return "is required"
	}
	if _, ok := permissionRank[permission]; !ok {
		return fmt.Sprintf("unknown permission %q (one of NO_PERMISSIONS, READ, USE, EDIT, MANAGE, DENY)", permission)
	}
	if resourceType == "workspace" {
		if permission != Use && permission != Manage {
			return fmt.Sprintf("a workspace grant must be USE or MANAGE, not %s", permission)
		}
		return ""
	}
	if permission == NoPermissions {
		return "NO_PERMISSIONS cannot be granted on a resource in MLflow 3.17: leave the grant out (or use DENY)"
	}
	return ""
}

func describeMatch(role, perm string) string {
	if role != "" {
		return fmt.Sprintf("descope_role %q", role)
	}
	return fmt.Sprintf("descope_permission %q", perm)
}
