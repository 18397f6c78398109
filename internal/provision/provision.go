// Package provision makes MLflow follow Descope: before a signed-in
// identity's request reaches MLflow, its MLflow user exists with the admin
// flag, roles and workspace memberships its Descope claims imply under the
// role mapping (internal/rolemap). SyncRoles keeps the roles themselves in
// line with the mapping file.
package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/rolemap"
)

// MLflow is the part of MLflow's admin API provisioning needs;
// *mlflow.Client implements it.
type MLflow interface {
	User(ctx context.Context, name string) (mlflow.User, error)
	CreateUser(ctx context.Context, name, password string) error
	SetAdmin(ctx context.Context, name string, admin bool) error
	UserRoles(ctx context.Context, name string) ([]mlflow.Role, error)
	AssignRole(ctx context.Context, username string, roleID int64) (mlflow.RoleAssignment, error)
	UnassignRole(ctx context.Context, username string, roleID int64) error
	Roles(ctx context.Context, workspaces ...string) ([]mlflow.Role, error)
	CreateRole(ctx context.Context, name, workspace, description string) (mlflow.Role, error)
	UpdateRole(ctx context.Context, id int64, u mlflow.RoleUpdate) (mlflow.Role, error)
	DeleteRole(ctx context.Context, id int64) error
	RolePermissions(ctx context.Context, roleID int64) ([]mlflow.RolePermission, error)
	AddRolePermission(ctx context.Context, roleID int64, g mlflow.Grant) (mlflow.RolePermission, error)
	RemoveRolePermission(ctx context.Context, permissionID int64) error
	UpdateRolePermission(ctx context.Context, permissionID int64, permission string) (mlflow.RolePermission, error)
	Workspace(ctx context.Context, name string) (mlflow.Workspace, error)
	CreateWorkspace(ctx context.Context, w mlflow.Workspace) (mlflow.Workspace, error)
}

var _ MLflow = (*mlflow.Client)(nil)

// ErrBlocked is returned by Ensure for a user Options.Blocked names.
var ErrBlocked = errors.New("provision: user is blocked")

// Subject is what provisioning needs to know about an identity.
type Subject struct {
	Username string
	// Admin forces the MLflow admin flag on (the gateway's own decision);
	// the mapping and Options.AdminRoles can also make a user admin.
	Admin bool
	// Descope claims (see SubjectFromToken and SubjectFromUser).
	ProjectRoles       []string
	ProjectPermissions []string
	TenantRoles        map[string][]string
	TenantPermissions  map[string][]string
}

// Actions of Events; the audit trail stores them as they are (each is an
// audit.Action of the same name).
const (
	ActionProvisionUser   = "provision_user"
	ActionSetAdmin        = "set_admin"
	ActionAssignRole      = "assign_role"
	ActionUnassignRole    = "unassign_role"
	ActionCreateRole      = "create_role"
	ActionUpdateRole      = "update_role"
	ActionDeleteRole      = "delete_role"
	ActionCreateWorkspace = "create_workspace"
)

// Actions lists every Event action.
var Actions = []string{ActionProvisionUser, ActionSetAdmin, ActionAssignRole, ActionUnassignRole,
	ActionCreateRole, ActionUpdateRole, ActionDeleteRole, ActionCreateWorkspace}

// Event reports a change provisioning made in MLflow; it is what
// provisioning sends to Options.Events.
type Event = event.ProvisionChange

// Options configures a Provisioner.
type Options struct {
	MLflow MLflow
	// Mapping is the role mapping; nil means rolemap.Empty() (admin flag
	// only).
	Mapping *rolemap.Mapping
	// AdminRoles are DESCOPE_ADMIN_ROLES.
	AdminRoles []string
	// Workspaces: MLflow runs with --enable-workspaces; tenant rules apply.
	Workspaces bool
	// Blocked, if set, names users (by MLflow username) who must not be
	// provisioned: Ensure returns ErrBlocked (usersync.Syncer.Blocked).
	Blocked func(username string) bool
	// TTL: how long a reconciled user is trusted to still match before it is
	// checked again, which also catches edits made in MLflow directly
	// (default 10m).
	TTL time.Duration
	// MaxEntries bounds the cache (default 100000).
	MaxEntries int
	// Events, if set, receives every change (audit, metrics).
	Events event.Sink
	Logger *slog.Logger
	Now    func() time.Time
}

// Provisioner creates and updates MLflow users, roles and workspaces.
type Provisioner struct {
	opts    Options
	flights singleflight.Group
	mu      sync.Mutex
	done    map[string]done
	// workspaces are the tenant workspaces known to exist with their roles.
	workspaces map[string]bool
	index      *roleIndex
	stats      cacheStats
}

type done struct {
	fingerprint string
	at          time.Time
}

// New returns a Provisioner.
func New(opts Options) (*Provisioner, error) {
	if opts.MLflow == nil {
		return nil, errors.New("provision: mlflow client is required")
	}
	if opts.Mapping == nil {
		opts.Mapping = rolemap.Empty()
	}
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Minute
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 100000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Blocked == nil {
		opts.Blocked = func(string) bool { return false }
	}
	return &Provisioner{opts: opts, done: map[string]done{}, workspaces: map[string]bool{}, index: newRoleIndex()}, nil
}

// Resolve returns what s's claims mean in MLflow under the mapping.
func (p *Provisioner) Resolve(s Subject) rolemap.Result {
	res := p.opts.Mapping.Resolve(rolemap.Input{
		ProjectRoles: s.ProjectRoles, ProjectPermissions: s.ProjectPermissions,
		TenantRoles: s.TenantRoles, TenantPermissions: s.TenantPermissions,
		AdminRoles: p.opts.AdminRoles, Workspaces: p.opts.Workspaces,
	})
	if s.Admin && !res.Admin {
		res.Admin, res.AdminReason = true, "the gateway marked the identity as admin"
	}
	return res
}

// fingerprint identifies the desired state, so an unchanged identity costs a
// map lookup and a changed one (a role granted or taken away) is reconciled
// at once.
func fingerprint(username string, res rolemap.Result) string {
	var b strings.Builder
	b.WriteString(username)
	if res.Admin {
		b.WriteString("|admin")
	}
	for _, r := range res.Roles {
		fmt.Fprintf(&b, "|r:%s/%s", r.Workspace, r.Name)
	}
	for _, w := range res.Workspaces {
		fmt.Fprintf(&b, "|w:%s", w.Name)
	}
	return b.String()
}

// Ensure makes MLflow match s. Concurrent calls for one user share one
// reconciliation; a user, role or workspace created at the same moment by
// another gateway replica is not an error. It returns ErrBlocked for a
// blocked user.
func (p *Provisioner) Ensure(ctx context.Context, s Subject) error {
	if s.Username == "" {
		return errors.New("provision: empty username")
	}
	if p.opts.Blocked(s.Username) {
		return ErrBlocked
	}
	return p.EnsureResolved(ctx, s.Username, p.Resolve(s))
}

// EnsureResolved is Ensure for a caller that has already resolved the
// subject (the gateway resolves each verified token once).
func (p *Provisioner) EnsureResolved(ctx context.Context, username string, res rolemap.Result) error {
	if username == "" {
		return errors.New("provision: empty username")
	}
	if p.opts.Blocked(username) {
		return ErrBlocked
	}
	if p.fresh(username, fingerprint(username, res)) {
		p.stats.hits.Add(1)
		return nil
	}
	p.stats.misses.Add(1)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	_, err := p.run(fctx, username, res, false)
	return err
}

// Reconcile makes MLflow match s now, bypassing the cache, and returns the
// changes it made (also sent to Options.Events). Usersync uses it.
func (p *Provisioner) Reconcile(ctx context.Context, s Subject) ([]Event, error) {
	if s.Username == "" {
		return nil, errors.New("provision: empty username")
	}
	return p.run(ctx, s.Username, p.Resolve(s), true)
}

// run reconciles one user, one reconciliation per user at a time: a caller
// that joins another's run for a different desired state (an older token,
// say) runs again with its own.
func (p *Provisioner) run(ctx context.Context, username string, res rolemap.Result, force bool) ([]Event, error) {
	fp := fingerprint(username, res)
	for range 4 {
		ran := false
		v, err, _ := p.flights.Do(username, func() (any, error) {
			ran = true
			if !force && p.fresh(username, fp) {
				return []Event(nil), nil
			}
			evs, err := p.reconcile(ctx, username, res)
			if err == nil {
				p.remember(username, fp)
			}
			return evs, err
		})
		if ran {
			evs, _ := v.([]Event)
			return evs, err
		}
		if !force && err == nil && p.fresh(username, fp) {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("provision: %q: too many concurrent reconciliations", username)
}

// Forget makes the next Ensure for username check MLflow again.
func (p *Provisioner) Forget(username string) {
	p.mu.Lock()
	delete(p.done, username)
	p.mu.Unlock()
}

// forgetAll drops the whole cache (after the roles themselves changed).
func (p *Provisioner) forgetAll() {
	p.mu.Lock()
	clear(p.done)
	clear(p.workspaces)
	p.mu.Unlock()
}

// emit records an event and sends it to Options.Events.
func (p *Provisioner) emit(evs *[]Event, e Event) {
	*evs = append(*evs, e)
	event.Send(p.opts.Events, e)
	p.opts.Logger.Info("mlflow changed", "action", e.Action, "username", e.Username, "role", e.Role, "workspace", e.Workspace, "detail", e.Detail)
}

func (p *Provisioner) reconcile(ctx context.Context, username string, res rolemap.Result) ([]Event, error) {
	var evs []Event
	u, err := p.ensureUser(ctx, username, &evs)
	if err != nil {
		return evs, err
	}
	if u.IsAdmin != res.Admin {
		if err := p.opts.MLflow.SetAdmin(ctx, username, res.Admin); err != nil {
			return evs, fmt.Errorf("provision: set admin of %q: %w", username, err)
		}
		detail := fmt.Sprintf("is_admin=%t", res.Admin)
		if res.AdminReason != "" {
			detail += " (" + res.AdminReason + ")"
		}
		p.emit(&evs, Event{Action: ActionSetAdmin, Username: username, Detail: detail})
	}
	have, err := p.opts.MLflow.UserRoles(ctx, username)
	if err != nil {
		return evs, fmt.Errorf("provision: roles of %q: %w", username, err)
	}
	if err := p.dropUnwanted(ctx, username, have, res.Roles, &evs); err != nil {
		return evs, err
	}
	if p.opts.Workspaces {
		for _, w := range res.Workspaces {
			if err := p.ensureWorkspace(ctx, w.Name, w.TenantID, &evs); err != nil {
				return evs, err
			}
		}
	}
	err = p.assignWanted(ctx, username, have, res.Roles, &evs)
	return evs, err
}

func (p *Provisioner) ensureUser(ctx context.Context, username string, evs *[]Event) (mlflow.User, error) {
	u, err := p.opts.MLflow.User(ctx, username)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, mlflow.ErrNotFound) {
		return u, fmt.Errorf("provision: load %q: %w", username, err)
	}
	pw, err := randomPassword()
	if err != nil {
		return u, err
	}
	// The password is never used: MLflow only ever sees this user through
	// the gateway's assertion. It is random so MLflow's own Basic login
	// cannot be guessed either.
	err = p.opts.MLflow.CreateUser(ctx, username, pw)
	switch {
	case err == nil:
		p.emit(evs, Event{Action: ActionProvisionUser, Username: username})
		return mlflow.User{Username: username}, nil
	case errors.Is(err, mlflow.ErrAlreadyExists):
		if u, err = p.opts.MLflow.User(ctx, username); err != nil {
			return u, fmt.Errorf("provision: reload %q: %w", username, err)
		}
		return u, nil
	default:
		return u, fmt.Errorf("provision: create %q: %w", username, err)
	}
}

// Revoke takes every role (managed or not) and the admin flag from an
// existing MLflow user, for a user disabled or deleted in Descope. The MLflow
// user itself is kept, so what it created keeps its owner. A user MLflow does
// not know is not an error.
func (p *Provisioner) Revoke(ctx context.Context, username, reason string) ([]Event, error) {
	var evs []Event
	p.Forget(username)
	u, err := p.opts.MLflow.User(ctx, username)
	if errors.Is(err, mlflow.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("provision: load %q: %w", username, err)
	}
	if u.IsAdmin {
		if err := p.opts.MLflow.SetAdmin(ctx, username, false); err != nil {
			return evs, fmt.Errorf("provision: clear admin of %q: %w", username, err)
		}
		p.emit(&evs, Event{Action: ActionSetAdmin, Username: username, Detail: "is_admin=false (" + reason + ")"})
	}
	roles, err := p.opts.MLflow.UserRoles(ctx, username)
	if err != nil {
		return evs, fmt.Errorf("provision: roles of %q: %w", username, err)
	}
	for _, r := range roles {
		if err := p.opts.MLflow.UnassignRole(ctx, username, r.ID); err != nil && !errors.Is(err, mlflow.ErrNotFound) {
			return evs, fmt.Errorf("provision: unassign %q from %q: %w", r.Name, username, err)
		}
		p.emit(&evs, Event{Action: ActionUnassignRole, Username: username, Role: r.Name, Workspace: r.Workspace, Detail: reason})
	}
	p.Forget(username)
	return evs, nil
}

func (p *Provisioner) fresh(username, fp string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.done[username]
	return ok && d.fingerprint == fp && p.opts.Now().Sub(d.at) < p.opts.TTL
}

func (p *Provisioner) remember(username, fp string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.done[username]; !ok && len(p.done) >= p.opts.MaxEntries {
		for k := range p.done {
			delete(p.done, k)
			break
		}
	}
	p.done[username] = done{fingerprint: fp, at: p.opts.Now()}
}

func randomPassword() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("provision: random password: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
