package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/rolemap"
)

// Directory is the part of Descope's management API that Explain and
// usersync use; *descope.Client implements it.
type Directory interface {
	UserByLoginID(ctx context.Context, loginID string) (*descope.User, error)
	UserByID(ctx context.Context, userID string) (*descope.User, error)
	Roles(ctx context.Context) ([]descope.Role, error)
}

var _ Directory = (*descope.Client)(nil)

// Names finds the MLflow usernames of Descope users; *naming.Store
// implements it.
type Names interface {
	Find(ctx context.Context, q string) ([]naming.Record, error)
	Mode() naming.Mode
}

var _ Names = (*naming.Store)(nil)

// ExplainDeps is what Explain needs.
type ExplainDeps struct {
	Descope    Directory
	Mapping    *rolemap.Mapping // nil: rolemap.Empty()
	AdminRoles []string         // DESCOPE_ADMIN_ROLES
	Workspaces bool
	// Names, if set, is where each user's MLflow username is kept; nil:
	// the username is the user ID.
	Names Names
	// MLflow, if set, adds what MLflow holds now for the user.
	MLflow interface {
		User(ctx context.Context, name string) (mlflow.User, error)
		UserRoles(ctx context.Context, name string) ([]mlflow.Role, error)
	}
}

// Explain finds a Descope user by user ID, MLflow username or login ID (the
// gateway's record of names first, then Descope's management API), resolves
// its roles and tenants under the mapping, and writes what the user is in
// MLflow and which rule decided each part.
func Explain(ctx context.Context, deps ExplainDeps, loginOrUserID string, w io.Writer) error {
	if deps.Descope == nil {
		return errors.New("provision: explain: a descope client with a management key is required")
	}
	var recs []naming.Record
	if deps.Names != nil {
		var err error
		if recs, err = deps.Names.Find(ctx, loginOrUserID); err != nil {
			return fmt.Errorf("provision: explain %q: %w", loginOrUserID, err)
		}
	}
	matches := recs
	var u *descope.User
	var err error
	if len(recs) > 0 {
		u, err = deps.Descope.UserByID(ctx, recs[0].UserID)
	} else {
		u, err = deps.Descope.UserByLoginID(ctx, loginOrUserID)
		if errors.Is(err, descope.ErrRejected) {
			u, err = deps.Descope.UserByID(ctx, loginOrUserID)
		}
	}
	if err != nil {
		return fmt.Errorf("provision: explain %q: %w", loginOrUserID, err)
	}
	if deps.Names != nil && (len(recs) == 0 || recs[0].UserID != u.UserID) {
		if recs, err = deps.Names.Find(ctx, u.UserID); err != nil {
			return fmt.Errorf("provision: explain %q: %w", loginOrUserID, err)
		}
	}
	roles, err := deps.Descope.Roles(ctx)
	if err != nil {
		return fmt.Errorf("provision: explain: list descope roles: %w", err)
	}
	m := deps.Mapping
	if m == nil {
		m = rolemap.Empty()
	}
	s := SubjectFromUser(u, roles)
	res := m.Resolve(rolemap.Input{
		ProjectRoles: s.ProjectRoles, ProjectPermissions: s.ProjectPermissions,
		TenantRoles: s.TenantRoles, TenantPermissions: s.TenantPermissions,
		AdminRoles: deps.AdminRoles, Workspaces: deps.Workspaces,
	})
	b := &strings.Builder{}
	fmt.Fprintf(b, "descope user:     %s (login ids: %s; status: %s)\n", u.UserID, strings.Join(u.LoginIDs, ", "), u.Status)
	s.Username = explainName(b, deps, u, recs)
	for _, m := range matches {
		if m.UserID != u.UserID {
			fmt.Fprintf(b, "also matches:     MLflow user %s of Descope user %s (login id %s)\n", m.Username, m.UserID, m.LoginID)
		}
	}
	fmt.Fprintf(b, "descope roles:    %s\n", list(s.ProjectRoles))
	fmt.Fprintf(b, "descope perms:    %s\n", list(s.ProjectPermissions))
	for _, t := range u.UserTenants {
		fmt.Fprintf(b, "tenant:           %s (%s) roles: %s\n", t.TenantID, t.TenantName, list(t.RoleNames))
	}
	if u.Status != "" && u.Status != "enabled" {
		fmt.Fprintf(b, "blocked:          yes (status %s): usersync revokes every role and the admin flag\n", u.Status)
	}
	if res.Admin {
		fmt.Fprintf(b, "admin:            yes, by %s\n", res.AdminReason)
	} else {
		fmt.Fprintf(b, "admin:            no (no admin role: DESCOPE_ADMIN_ROLES=%s)\n", list(deps.AdminRoles))
	}
	if len(res.Roles) == 0 {
		fmt.Fprintf(b, "roles:            none (MLflow's default_permission applies)\n")
	}
	for _, r := range res.Roles {
		fmt.Fprintf(b, "role:             %s in workspace %s, by %s\n", r.Name, r.Workspace, r.Reason)
	}
	if deps.Workspaces {
		for _, ws := range res.Workspaces {
			fmt.Fprintf(b, "workspace:        %s (tenant %s) %s, by %s\n", ws.Name, ws.TenantID, ws.Permission, ws.Reason)
		}
		for _, t := range u.UserTenants {
			if !slices.ContainsFunc(res.Workspaces, func(x rolemap.WorkspaceRef) bool { return x.TenantID == t.TenantID }) {
				fmt.Fprintf(b, "workspace:        %s (tenant %s) none: no tenant_roles rule matches\n", m.WorkspaceName(t.TenantID), t.TenantID)
			}
		}
	}
	if deps.MLflow != nil && s.Username != "" {
		explainCurrent(ctx, deps, s.Username, b)
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// explainName writes the user's MLflow username and how it was decided,
// and returns it ("" for a user who has none yet).
func explainName(b *strings.Builder, deps ExplainDeps, u *descope.User, recs []naming.Record) string {
	if deps.Names == nil {
		fmt.Fprintf(b, "mlflow username:  %s (the user ID)\n", u.UserID)
		return u.UserID
	}
	var rec *naming.Record
	for i := range recs {
		if recs[i].UserID == u.UserID {
			rec = &recs[i]
		}
	}
	if rec == nil {
		fmt.Fprintf(b, "mlflow username:  none yet: decided at the first sign-in, from the %s (MLFLOW_DESCOPE_USERNAME), unless that name is taken or reserved\n", deps.Names.Mode())
		return ""
	}
	fmt.Fprintf(b, "mlflow username:  %s (decided %s, %s)\n", rec.Username, rec.Created.Format("2006-01-02 15:04 MST"), nameSource(rec.Source))
	if rec.Reason != "" {
		fmt.Fprintf(b, "  because:        %s\n", rec.Reason)
	}
	if rec.FirstLoginID != "" && len(u.LoginIDs) > 0 && rec.FirstLoginID != u.LoginIDs[0] {
		fmt.Fprintf(b, "  login id then:  %s (now %s; the username was kept)\n", rec.FirstLoginID, u.LoginIDs[0])
	}
	return rec.Username
}

func nameSource(source string) string {
	switch source {
	case naming.SourceLoginID:
		return "from the login ID"
	case naming.SourceEmail:
		return "from the email"
	case naming.SourceUserID:
		return "the user ID"
	case naming.SourceFallback:
		return "the user ID, as the login ID or email could not be used"
	case naming.SourceSeeded, naming.SourceAdopted:
		return "the user ID, kept from an earlier release"
	default:
		return source
	}
}

func explainCurrent(ctx context.Context, deps ExplainDeps, username string, b *strings.Builder) {
	mu, err := deps.MLflow.User(ctx, username)
	switch {
	case errors.Is(err, mlflow.ErrNotFound):
		fmt.Fprintf(b, "in mlflow now:    no such user (created at first sign-in)\n")
		return
	case err != nil:
		fmt.Fprintf(b, "in mlflow now:    unknown (%v)\n", err)
		return
	}
	held, err := deps.MLflow.UserRoles(ctx, username)
	if err != nil {
		fmt.Fprintf(b, "in mlflow now:    is_admin=%t, roles unknown (%v)\n", mu.IsAdmin, err)
		return
	}
	var names []string
	for _, r := range held {
		n := r.Workspace + "/" + r.Name
		if !Managed(r) {
			n += " (hand-made)"
		}
		names = append(names, n)
	}
	fmt.Fprintf(b, "in mlflow now:    is_admin=%t roles: %s\n", mu.IsAdmin, list(names))
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}
