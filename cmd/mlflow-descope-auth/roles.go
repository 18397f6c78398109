package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/rolemap"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/usersync"
)

// provisioner joins the pieces that make MLflow follow Descope: the role
// mapping, the per-request reconciliation, and the sync job.
type provisioner struct {
	p          *provision.Provisioner
	mapping    *rolemap.Mapping
	adminRoles []string
	workspaces bool
	syncer     *usersync.Syncer // nil without a management key
	// deny holds the blocked users, shared with replicas through the database
	// (a replica without the sync job still refuses them).
	deny     *denylist.List
	lastSync atomic.Pointer[syncOutcome]
	log      *slog.Logger
	dc       *descope.Client
	mlflow   *mlflow.Client

	syncInterval time.Duration
	// retryBase is the first wait before applying the mapping again after
	// MLflow did not answer; 0 means 500 ms.
	retryBase      time.Duration
	mappingApplied atomic.Bool

	mu       sync.Mutex
	resolved map[*descope.Token]rolemap.Result
}

// loadMapping reads the role mapping file, if one is configured.
func loadMapping(cfg *config.Config) (*rolemap.Mapping, error) {
	if cfg.RoleMappingFile == "" {
		return rolemap.Empty(), nil
	}
	m, err := rolemap.Load(cfg.RoleMappingFile)
	if err != nil {
		return nil, fmt.Errorf("DESCOPE_ROLE_MAPPING_FILE: %w", err)
	}
	return m, nil
}

func newProvisioner(cfg *config.Config, client *mlflow.Client, dc *descope.Client, deny *denylist.List, log *slog.Logger, h hooks) (*provisioner, error) {
	mapping, err := loadMapping(cfg)
	if err != nil {
		return nil, err
	}
	a := &provisioner{deny: deny, mapping: mapping, adminRoles: cfg.AdminRoles, workspaces: cfg.EnableWorkspaces, log: log, dc: dc, mlflow: client, syncInterval: cfg.SyncInterval,
		resolved: map[*descope.Token]rolemap.Result{}}
	a.p, err = provision.New(provision.Options{
		MLflow:     client,
		Mapping:    mapping,
		AdminRoles: cfg.AdminRoles,
		Workspaces: cfg.EnableWorkspaces,
		Blocked:    a.blocked,
		OnChange:   h.onProvision,
		Logger:     log.With("component", "provision"),
	})
	if err != nil {
		return nil, err
	}
	if dc.HasManagementKey() && cfg.SyncInterval > 0 {
		a.syncer, err = usersync.New(usersync.Options{
			Descope:       dc,
			MLflow:        client,
			Provisioner:   a.p,
			AdminUsername: cfg.AdminUsername,
			Interval:      cfg.SyncInterval,
			Blocklist:     deny,
			OnRun: func(rep usersync.Report, err error) {
				a.lastSync.Store(&syncOutcome{report: rep, err: err})
				if h.onSyncRun != nil {
					h.onSyncRun(rep, err)
				}
			},
			Logger: log.With("component", "usersync"),
		})
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// subject is what provisioning needs from an identity. The admin flag is not
// copied: Resolve derives it from the same roles (isAdmin is that rule).
func (a *provisioner) subject(id *gateway.Identity) provision.Subject {
	if id.Token == nil {
		return provision.Subject{Username: id.Username, Admin: id.Admin}
	}
	return provision.SubjectFromToken(id.Username, id.Token)
}

// isAdmin is the gateway's admin rule: DESCOPE_ADMIN_ROLES and the mapping
// file's admin rules, exactly as provisioning applies them in MLflow.
func (a *provisioner) isAdmin(tok *descope.Token) bool {
	return a.resolve(tok).Admin
}

// Ensure implements gateway.Provisioner.
func (a *provisioner) Ensure(ctx context.Context, id *gateway.Identity) error {
	if id.Token == nil {
		return a.p.Ensure(ctx, a.subject(id))
	}
	return a.p.EnsureResolved(ctx, id.Username, a.resolve(id.Token))
}

// resolve is what a verified token's roles give in MLflow, worked out once
// per token: the verifier hands out the same *Token for every request of a
// session, and resolving costs ~5 µs and 60 allocations, three times a
// request otherwise (admin rule, workspace check, provisioning).
func (a *provisioner) resolve(tok *descope.Token) rolemap.Result {
	a.mu.Lock()
	r, ok := a.resolved[tok]
	a.mu.Unlock()
	if ok {
		return r
	}
	r = a.p.Resolve(provision.SubjectFromToken("", tok))
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.resolved) >= maxResolved {
		clear(a.resolved) // tokens live minutes; starting over is cheap
	}
	a.resolved[tok] = r
	return r
}

// maxResolved bounds the per-token cache of resolved permissions.
const maxResolved = 50000

// blocked reports users a sync job (this replica's or another's) found
// disabled or deleted in Descope.
func (a *provisioner) blocked(userID string) bool {
	return a.deny != nil && a.deny.Blocked(userID)
}

// workspaceAllowed lets a request name only a workspace of a tenant its
// identity belongs to (admins: any).
func (a *provisioner) workspaceAllowed(id *gateway.Identity, workspace string) bool {
	if id.Admin {
		return true
	}
	if id.Token == nil {
		return rolemap.AllowedWorkspace(a.p.Resolve(a.subject(id)), workspace)
	}
	return rolemap.AllowedWorkspace(a.resolve(id.Token), workspace)
}

// run brings MLflow's managed roles in line with the mapping once MLflow
// answers, then runs the sync job until ctx ends. MLflow being down or
// restarting is waited out (with backoff); a mapping MLflow refuses stops the
// gateway: serving with half-applied permissions would be worse.
func (a *provisioner) run(ctx context.Context, up *upstream) error {
	if err := a.applyMapping(ctx, up); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if a.syncer == nil {
		return nil
	}
	return a.syncer.Run(ctx)
}

// applyMapping tries SyncRoles until it succeeds, MLflow refuses the
// mapping, or ctx ends.
func (a *provisioner) applyMapping(ctx context.Context, up *upstream) error {
	wait := a.retryBase
	if wait <= 0 {
		wait = 500 * time.Millisecond
	}
	for {
		if up.sup != nil {
			if err := up.sup.WaitReady(ctx); err != nil {
				return err
			}
		}
		events, err := a.p.SyncRoles(ctx)
		if err == nil {
			a.mappingApplied.Store(true)
			a.log.Info("role mapping applied", "changes", len(events))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !transient(err) {
			return fmt.Errorf("apply role mapping: %w", err)
		}
		a.log.Warn("role mapping not applied yet, MLflow did not answer; retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		// A cap of a few seconds: until the mapping is applied this replica
		// is not ready, so every second of backoff after MLflow is back is a
		// second of a replica out of the load balancer (the soak test saw a
		// replica started during an MLflow restart stay unready 30 s longer).
		wait = min(2*wait, 5*time.Second)
	}
}

// mappingReady reports whether the role mapping has been applied in MLflow.
func (a *provisioner) mappingReady() bool { return a.mappingApplied.Load() }

// transient reports whether err, or any error joined into it, is one that
// retrying can cure: no answer from MLflow (refused, reset, timed out) or a
// 5xx, 408 or 429 answer. MLflow's 4xx refusals and our own configuration
// errors are not.
func transient(err error) bool {
	if err == nil {
		return false
	}
	if api, ok := err.(*mlflow.APIError); ok {
		s := api.StatusCode
		return s >= 500 || s == http.StatusRequestTimeout || s == http.StatusTooManyRequests
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	// Each MLflow answer in a joined error is judged on its own: errors.As
	// would look at the first only.
	switch x := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			if transient(e) {
				return true
			}
		}
	case interface{ Unwrap() error }:
		return transient(x.Unwrap())
	}
	return false
}

// explain writes what a Descope user gets in MLflow, and why.
func (a *provisioner) explain(ctx context.Context, id string, w io.Writer) error {
	return provision.Explain(ctx, provision.ExplainDeps{
		Descope: a.dc, Mapping: a.mapping, AdminRoles: a.adminRoles, Workspaces: a.workspaces, MLflow: a.mlflow,
	}, id, w)
}

// syncStatus describes the sync job for the admin page.
func (a *provisioner) syncStatus() any {
	st := map[string]any{"enabled": false, "why": "needs DESCOPE_MANAGEMENT_KEY and DESCOPE_SYNC_INTERVAL > 0"}
	if a.syncer != nil {
		st = map[string]any{"enabled": true, "interval": a.syncInterval.String()}
		if last := a.lastSync.Load(); last != nil {
			st["last_run"] = last.report
			if last.err != nil {
				st["last_error"] = last.err.Error()
			}
		} else {
			st["last_run"] = "not yet"
		}
	}
	// Refused here whoever's sync found them: replicas share the list.
	if a.deny != nil {
		st["blocked_users"] = a.deny.BlockedUsers()
		st["blocked_users_shared"] = a.deny.Shared()
	}
	return st
}

type syncOutcome struct {
	report usersync.Report
	err    error
}

// workspaceCheck is the gateway's workspace rule, only when MLflow runs
// with workspaces.
func workspaceCheck(cfg *config.Config, a *provisioner) func(*gateway.Identity, string) bool {
	if !cfg.EnableWorkspaces {
		return nil
	}
	return a.workspaceAllowed
}

// sameAsUser is the rule for keys bound to a user: the key shares the user's
// MLflow username only when its own roles and tenants resolve to exactly the
// MLflow permissions the user's roles do. MLflow keeps one admin flag and one
// set of roles per username, so a key with other roles gets its own MLflow
// user instead of flipping the person's permissions back and forth.
func (a *provisioner) sameAsUser(keyToken *descope.Token, u *descope.User) bool {
	if a.mapping.UsesPermissions() {
		// The user record names roles, not the permissions they carry, and
		// resolving without them could call a key with other permissions
		// "the same": when unsure, the key gets its own MLflow user.
		return false
	}
	keySubj := provision.SubjectFromToken(u.UserID, keyToken)
	userSubj := provision.SubjectFromUser(u, nil)
	return samePermissions(a.p.Resolve(keySubj), a.p.Resolve(userSubj))
}

func samePermissions(x, y rolemap.Result) bool {
	if x.Admin != y.Admin || len(x.Roles) != len(y.Roles) || len(x.Workspaces) != len(y.Workspaces) {
		return false
	}
	roles := map[[2]string]bool{}
	for _, r := range x.Roles {
		roles[[2]string{r.Name, r.Workspace}] = true
	}
	for _, r := range y.Roles {
		if !roles[[2]string{r.Name, r.Workspace}] {
			return false
		}
	}
	ws := map[[2]string]bool{}
	for _, w := range x.Workspaces {
		ws[[2]string{w.Name, w.Permission}] = true
	}
	for _, w := range y.Workspaces {
		if !ws[[2]string{w.Name, w.Permission}] {
			return false
		}
	}
	return true
}
