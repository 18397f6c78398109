package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/rolemap"
)

// ManagedTag starts the description of every MLflow role the gateway
// manages. Roles without it (made by hand in MLflow) are never changed,
// deleted, or taken from users by reconciliation.
const ManagedTag = "[mlflow-descope-auth]"

// Managed reports whether the gateway manages role r.
func Managed(r mlflow.Role) bool {
	return r.Description != nil && strings.HasPrefix(*r.Description, ManagedTag)
}

// ErrUnmanagedConflict: the mapping names a role that exists in MLflow
// without ManagedTag; the gateway leaves it alone.
var ErrUnmanagedConflict = errors.New("provision: role exists in mlflow but is not managed by the gateway")

// roleIndex caches role IDs by workspace and name.
type roleIndex struct {
	mu  sync.Mutex
	ids map[string]int64
}

func newRoleIndex() *roleIndex { return &roleIndex{ids: map[string]int64{}} }

func roleKey(ws, name string) string { return ws + "\x00" + name }

func (x *roleIndex) get(ws, name string) (int64, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	id, ok := x.ids[roleKey(ws, name)]
	return id, ok
}

func (x *roleIndex) put(r mlflow.Role) {
	x.mu.Lock()
	x.ids[roleKey(r.Workspace, r.Name)] = r.ID
	x.mu.Unlock()
}

func (x *roleIndex) drop(ws, name string) {
	x.mu.Lock()
	delete(x.ids, roleKey(ws, name))
	x.mu.Unlock()
}

// desiredRole is a managed role as the mapping defines it.
type desiredRole struct {
	name, workspace, description string
	grants                       []rolemap.Grant
}

func staticRole(r rolemap.Rule) desiredRole {
	return desiredRole{name: r.MLflowRole, workspace: r.Workspace, description: describe(r.Description, r.DescopeRole, r.DescopePermission), grants: r.Grants}
}

func tenantRole(r rolemap.TenantRule, ws string) desiredRole {
	return desiredRole{name: r.MLflowRole, workspace: ws, description: describe(r.Description, r.DescopeRole, r.DescopePermission), grants: r.TenantGrants()}
}

func describe(desc, role, perm string) string {
	if desc == "" {
		if role != "" {
			desc = fmt.Sprintf("Descope role %q", role)
		} else {
			desc = fmt.Sprintf("Descope permission %q", perm)
		}
	}
	return ManagedTag + " " + desc
}

// SyncRoles makes MLflow's managed roles match the mapping: it creates the
// roles of the "roles" section, sets their description and grants, brings
// tenant roles already present in tenant workspaces in line, and deletes
// managed roles the mapping no longer defines (which also takes them from
// every user). It is idempotent and safe to run on several replicas. Roles
// named by the mapping that exist without ManagedTag are left alone and
// reported (ErrUnmanagedConflict); the other roles are still synced.
func (p *Provisioner) SyncRoles(ctx context.Context) ([]Event, error) {
	var evs []Event
	all, err := p.opts.MLflow.Roles(ctx)
	if err != nil {
		return nil, fmt.Errorf("provision: list roles: %w", err)
	}
	defer p.forgetAll()
	var errs []error
	wanted := map[string]bool{}
	for _, r := range p.opts.Mapping.Roles {
		d := staticRole(r)
		wanted[roleKey(d.workspace, d.name)] = true
		if d.workspace != rolemap.DefaultWorkspace {
			if !p.opts.Workspaces {
				errs = append(errs, fmt.Errorf("provision: role %q names workspace %q but workspaces are off", d.name, d.workspace))
				continue
			}
			if err := p.ensureWorkspace(ctx, d.workspace, "", &evs); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := p.syncRole(ctx, d, find(all, d.workspace, d.name), &evs); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range all {
		if !Managed(r) || wanted[roleKey(r.Workspace, r.Name)] {
			continue
		}
		if tr, ok := p.tenantRuleFor(r); ok {
			if err := p.syncRole(ctx, tenantRole(tr, r.Workspace), &r, &evs); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := p.opts.MLflow.DeleteRole(ctx, r.ID); err != nil && !errors.Is(err, mlflow.ErrNotFound) {
			errs = append(errs, fmt.Errorf("provision: delete role %q in %q: %w", r.Name, r.Workspace, err))
			continue
		}
		p.index.drop(r.Workspace, r.Name)
		p.emit(&evs, Event{Action: ActionDeleteRole, Role: r.Name, Workspace: r.Workspace, Detail: "no longer in " + p.opts.Mapping.Source})
	}
	return evs, errors.Join(errs...)
}

// tenantRuleFor returns the tenant rule that defines a managed role found in
// a tenant workspace.
func (p *Provisioner) tenantRuleFor(r mlflow.Role) (rolemap.TenantRule, bool) {
	if !p.opts.Workspaces || r.Workspace == rolemap.DefaultWorkspace {
		return rolemap.TenantRule{}, false
	}
	tr, ok := p.opts.Mapping.TenantRoleFor(r.Name)
	if !ok || (tr.Tenant != "" && p.opts.Mapping.WorkspaceName(tr.Tenant) != r.Workspace) {
		return rolemap.TenantRule{}, false
	}
	return tr, true
}

func find(roles []mlflow.Role, ws, name string) *mlflow.Role {
	for i := range roles {
		if roles[i].Workspace == ws && roles[i].Name == name {
			return &roles[i]
		}
	}
	return nil
}

// syncRole creates d if existing is nil, else brings existing's description
// and grants in line with d.
func (p *Provisioner) syncRole(ctx context.Context, d desiredRole, existing *mlflow.Role, evs *[]Event) error {
	if existing == nil {
		r, err := p.opts.MLflow.CreateRole(ctx, d.name, d.workspace, d.description)
		switch {
		case err == nil:
			p.emit(evs, Event{Action: ActionCreateRole, Role: d.name, Workspace: d.workspace, Detail: d.description})
			existing = &r
		case errors.Is(err, mlflow.ErrAlreadyExists): // another replica
			roles, lerr := p.opts.MLflow.Roles(ctx, d.workspace)
			if lerr != nil {
				return fmt.Errorf("provision: list roles of %q: %w", d.workspace, lerr)
			}
			if existing = find(roles, d.workspace, d.name); existing == nil {
				return fmt.Errorf("provision: create role %q in %q: %w", d.name, d.workspace, err)
			}
		default:
			return fmt.Errorf("provision: create role %q in %q: %w", d.name, d.workspace, err)
		}
	}
	if !Managed(*existing) {
		return fmt.Errorf("%w: %q in workspace %q (rename it, or the rule)", ErrUnmanagedConflict, d.name, d.workspace)
	}
	p.index.put(*existing)
	if *existing.Description != d.description {
		desc := d.description
		if _, err := p.opts.MLflow.UpdateRole(ctx, existing.ID, mlflow.RoleUpdate{Description: &desc}); err != nil {
			return fmt.Errorf("provision: update role %q: %w", d.name, err)
		}
		p.emit(evs, Event{Action: ActionUpdateRole, Role: d.name, Workspace: d.workspace, Detail: "description"})
	}
	return p.syncGrants(ctx, d, existing.ID, evs)
}

func (p *Provisioner) syncGrants(ctx context.Context, d desiredRole, roleID int64, evs *[]Event) error {
	have, err := p.opts.MLflow.RolePermissions(ctx, roleID)
	if err != nil {
		return fmt.Errorf("provision: permissions of role %q: %w", d.name, err)
	}
	grantKey := func(t, pat string) string { return t + "\x00" + pat }
	want := map[string]rolemap.Grant{}
	for _, g := range d.grants {
		want[grantKey(g.ResourceType, g.Pattern)] = g
	}
	matched := map[string]bool{}
	for _, h := range have {
		k := grantKey(h.ResourceType, h.ResourcePattern)
		g, ok := want[k]
		switch {
		case !ok || matched[k]:
			if err := p.opts.MLflow.RemoveRolePermission(ctx, h.ID); err != nil && !errors.Is(err, mlflow.ErrNotFound) {
				return fmt.Errorf("provision: remove grant from role %q: %w", d.name, err)
			}
			p.emit(evs, Event{Action: ActionUpdateRole, Role: d.name, Workspace: d.workspace, Detail: fmt.Sprintf("removed %s %s %s", h.ResourceType, h.ResourcePattern, h.Permission)})
		case h.Permission != g.Permission:
			if _, err := p.opts.MLflow.UpdateRolePermission(ctx, h.ID, g.Permission); err != nil {
				return fmt.Errorf("provision: update grant of role %q: %w", d.name, err)
			}
			p.emit(evs, Event{Action: ActionUpdateRole, Role: d.name, Workspace: d.workspace, Detail: fmt.Sprintf("%s %s %s -> %s", h.ResourceType, h.ResourcePattern, h.Permission, g.Permission)})
		}
		if ok {
			matched[k] = true
		}
	}
	for _, g := range d.grants {
		if matched[grantKey(g.ResourceType, g.Pattern)] {
			continue
		}
		if _, err := p.opts.MLflow.AddRolePermission(ctx, roleID, mlflow.Grant{ResourceType: g.ResourceType, ResourcePattern: g.Pattern, Permission: g.Permission}); err != nil && !errors.Is(err, mlflow.ErrAlreadyExists) {
			return fmt.Errorf("provision: add grant to role %q: %w", d.name, err)
		}
		p.emit(evs, Event{Action: ActionUpdateRole, Role: d.name, Workspace: d.workspace, Detail: fmt.Sprintf("added %s %s %s", g.ResourceType, g.Pattern, g.Permission)})
	}
	return nil
}

// roleID returns the ID of managed role (ws, name), creating it from the
// mapping if MLflow does not have it yet.
func (p *Provisioner) roleID(ctx context.Context, ref rolemap.RoleRef, evs *[]Event) (int64, error) {
	if id, ok := p.index.get(ref.Workspace, ref.Name); ok {
		return id, nil
	}
	roles, err := p.opts.MLflow.Roles(ctx, ref.Workspace)
	if err != nil {
		return 0, fmt.Errorf("provision: list roles of %q: %w", ref.Workspace, err)
	}
	if r := find(roles, ref.Workspace, ref.Name); r != nil && Managed(*r) {
		p.index.put(*r)
		return r.ID, nil
	}
	d, ok := p.desired(ref)
	if !ok {
		return 0, fmt.Errorf("provision: role %q in %q is not in the mapping", ref.Name, ref.Workspace)
	}
	if err := p.syncRole(ctx, d, find(roles, ref.Workspace, ref.Name), evs); err != nil {
		return 0, err
	}
	id, _ := p.index.get(ref.Workspace, ref.Name)
	return id, nil
}

func (p *Provisioner) desired(ref rolemap.RoleRef) (desiredRole, bool) {
	for _, r := range p.opts.Mapping.Roles {
		if r.Workspace == ref.Workspace && r.MLflowRole == ref.Name {
			return staticRole(r), true
		}
	}
	if tr, ok := p.opts.Mapping.TenantRoleFor(ref.Name); ok && ref.Workspace != rolemap.DefaultWorkspace {
		return tenantRole(tr, ref.Workspace), true
	}
	return desiredRole{}, false
}

// dropUnwanted takes away the managed roles a user holds that are no longer
// wanted. It runs before anything is granted, so that a failure to grant
// (a workspace MLflow will not create, a role deleted behind our back) can
// never keep a privilege Descope took away. Hand-made roles are left alone.
func (p *Provisioner) dropUnwanted(ctx context.Context, username string, have []mlflow.Role, want []rolemap.RoleRef, evs *[]Event) error {
	wanted := map[[2]string]bool{}
	for _, ref := range want {
		wanted[[2]string{ref.Workspace, ref.Name}] = true
	}
	for _, r := range have {
		if wanted[[2]string{r.Workspace, r.Name}] || !Managed(r) {
			continue
		}
		if err := p.opts.MLflow.UnassignRole(ctx, username, r.ID); err != nil && !errors.Is(err, mlflow.ErrNotFound) {
			return fmt.Errorf("provision: unassign %q from %q: %w", r.Name, username, err)
		}
		p.emit(evs, Event{Action: ActionUnassignRole, Username: username, Role: r.Name, Workspace: r.Workspace, Detail: "no longer implied by the user's Descope roles"})
	}
	return nil
}

// assignWanted gives the user every wanted role it does not hold yet.
func (p *Provisioner) assignWanted(ctx context.Context, username string, have []mlflow.Role, want []rolemap.RoleRef, evs *[]Event) error {
	for _, ref := range want {
		id, err := p.roleID(ctx, ref, evs)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(have, func(r mlflow.Role) bool { return r.ID == id }) {
			continue
		}
		_, err = p.opts.MLflow.AssignRole(ctx, username, id)
		switch {
		case err == nil:
			p.emit(evs, Event{Action: ActionAssignRole, Username: username, Role: ref.Name, Workspace: ref.Workspace, Detail: ref.Reason})
		case errors.Is(err, mlflow.ErrAlreadyExists):
		case errors.Is(err, mlflow.ErrNotFound):
			// The role was deleted behind our back: look it up again next time.
			p.index.drop(ref.Workspace, ref.Name)
			return fmt.Errorf("provision: assign %q to %q: %w", ref.Name, username, err)
		default:
			return fmt.Errorf("provision: assign %q to %q: %w", ref.Name, username, err)
		}
	}
	return nil
}
