package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/rolemap"
)

// Policy is the gateway's rules for who a caller is in MLflow: the admin
// rule, the workspace rule, blocked users, whether a key bound to a user
// shares the user's MLflow username, and making MLflow match (Ensure, and
// applying the role mapping once MLflow answers). Every rule comes from the
// Provisioner's options (DESCOPE_ADMIN_ROLES, the mapping file, workspaces,
// the block list), so the gateway and provisioning can never disagree.
// It is safe for concurrent use.
type Policy struct {
	p           *Provisioner
	directory   Directory
	names       *naming.Store
	mlflowReady func(ctx context.Context) error
	retryBase   time.Duration
	log         *slog.Logger

	mappingApplied atomic.Bool

	mu       sync.Mutex
	resolved map[*descope.Token]rolemap.Result
}

// PolicyOptions configures a Policy.
type PolicyOptions struct {
	// Provisioner applies the decisions in MLflow; required.
	Provisioner *Provisioner
	// Directory looks users up for Explain, and for the login ID of a user
	// who has no MLflow username yet (a descope.Client; it needs a
	// management key).
	Directory Directory
	// Names keeps each Descope user's MLflow username; nil: the username is
	// the user ID (tests of the rules alone).
	Names *naming.Store
	// MLflowReady, if set, blocks until MLflow answers (the supervisor's
	// WaitReady) before each attempt to apply the role mapping.
	MLflowReady func(ctx context.Context) error
	// RetryBase is the first wait before applying the mapping again after
	// MLflow did not answer; 0 means 500 ms. It doubles up to 30 s.
	RetryBase time.Duration
	Logger    *slog.Logger
}

// NewPolicy returns the Policy of a Provisioner.
func NewPolicy(opts PolicyOptions) (*Policy, error) {
	if opts.Provisioner == nil {
		return nil, errors.New("provision: policy: provisioner is required")
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 500 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Policy{p: opts.Provisioner, directory: opts.Directory, names: opts.Names, mlflowReady: opts.MLflowReady,
		retryBase: opts.RetryBase, log: opts.Logger, resolved: map[*descope.Token]rolemap.Result{}}, nil
}

// Admin is the gateway's admin rule: DESCOPE_ADMIN_ROLES and the mapping
// file's admin rules, exactly as provisioning applies them in MLflow.
func (a *Policy) Admin(tok *descope.Token) bool {
	return a.resolve(tok).Admin
}

// Username is the MLflow username of Descope user userID: the one decided
// at the user's first use and kept since (internal/naming). known is what
// the caller learned of the person from Descope (its /me at sign-in, a
// bound key's user record). When the user
// has no name yet and known says nothing, the login ID and email come from
// Descope's management API (with a management key), else from the verified
// token's custom claims "loginId" and "email"; with none of them the
// answer is naming.ErrNoProfile: deciding a name from nothing could never
// be undone. Other errors wrap naming.ErrUnavailable or
// descope.ErrUnavailable.
func (a *Policy) Username(ctx context.Context, userID string, known naming.Profile, tok *descope.Token) (string, error) {
	if a.names == nil {
		return userID, nil
	}
	r, ok, err := a.names.Lookup(ctx, userID)
	if err != nil {
		return "", err
	}
	if ok {
		return r.Username, nil
	}
	r, err = a.names.Assign(ctx, userID, func(ctx context.Context) (naming.Profile, error) {
		return a.profile(ctx, userID, known, tok)
	})
	if err != nil {
		return "", err
	}
	return r.Username, nil
}

// NoteProfile records the login ID and email Descope has just given for a
// user (its /me at sign-in): the admin page shows them, and a changed login
// ID is audited. The MLflow username does not change. Only fresh answers
// are noted here (cached profiles could write an old login ID back); the
// user sync notes what the management API lists.
func (a *Policy) NoteProfile(ctx context.Context, userID string, p naming.Profile) {
	if a.names == nil {
		return
	}
	if err := a.names.NoteProfile(ctx, userID, p); err != nil {
		a.log.Warn("login id not recorded", "user_id", userID, "err", err)
	}
}

// profile finds the login ID and email a new user's name is made of.
func (a *Policy) profile(ctx context.Context, userID string, known naming.Profile, tok *descope.Token) (naming.Profile, error) {
	if known != (naming.Profile{}) || a.names.Mode() == naming.ModeUserID {
		return known, nil
	}
	if a.directory != nil {
		u, err := a.directory.UserByID(ctx, userID)
		switch {
		case err == nil:
			p := naming.Profile{Email: u.Email}
			if len(u.LoginIDs) > 0 {
				p.LoginID = u.LoginIDs[0]
			}
			return p, nil
		case errors.Is(err, descope.ErrUnavailable):
			return naming.Profile{}, fmt.Errorf("provision: load user %s: %w", userID, err)
		case errors.Is(err, descope.ErrRejected):
			// Descope does not know the user (deleted since the token was
			// issued): no name is decided for it.
			return naming.Profile{}, fmt.Errorf("%w: descope has no user %s: %w", naming.ErrNoProfile, userID, err)
		case !errors.Is(err, descope.ErrNoManagementKey):
			return naming.Profile{}, fmt.Errorf("provision: load user %s: %w", userID, err)
		}
	}
	var p naming.Profile
	if tok != nil {
		p.LoginID, _ = tok.Claims["loginId"].(string)
		p.Email, _ = tok.Claims["email"].(string)
	}
	if p.LoginID == "" && (a.names.Mode() == naming.ModeLoginID || p.Email == "") {
		return naming.Profile{}, naming.ErrNoProfile
	}
	return p, nil
}

// Ensure makes sure MLflow user username exists with the admin flag, roles
// and workspaces the verified token tok implies. It returns ErrBlocked for
// a blocked user.
func (a *Policy) Ensure(ctx context.Context, username string, tok *descope.Token) error {
	return a.p.EnsureResolved(ctx, username, a.resolve(tok))
}

// resolve is what a verified token's roles give in MLflow, worked out once
// per token: the verifier hands out the same *Token for every request of a
// session, and resolving costs ~5 µs and 60 allocations, three times a
// request otherwise (admin rule, workspace check, provisioning).
func (a *Policy) resolve(tok *descope.Token) rolemap.Result {
	a.mu.Lock()
	r, ok := a.resolved[tok]
	a.mu.Unlock()
	if ok {
		return r
	}
	r = a.p.Resolve(SubjectFromToken("", tok))
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

// Blocked reports users a sync job (this replica's or another's) found
// disabled or deleted in Descope.
func (a *Policy) Blocked(userID string) bool {
	return a.p.opts.Blocked(userID)
}

// WorkspaceAllowed lets a request name only a workspace of a tenant the
// token's holder belongs to (admins: any). Without workspaces every request
// passes: MLflow has only the default workspace.
func (a *Policy) WorkspaceAllowed(tok *descope.Token, workspace string) bool {
	if !a.p.opts.Workspaces {
		return true
	}
	r := a.resolve(tok)
	return r.Admin || rolemap.AllowedWorkspace(r, workspace)
}

// ApplyMapping brings MLflow's managed roles in line with the mapping once
// MLflow answers. MLflow being down or restarting is waited out (with
// backoff); a mapping MLflow refuses is an error: serving with half-applied
// permissions would be worse. It returns nil if ctx ends first.
func (a *Policy) ApplyMapping(ctx context.Context) error {
	if err := a.applyMapping(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// applyMapping tries SyncRoles until it succeeds, MLflow refuses the
// mapping, or ctx ends.
func (a *Policy) applyMapping(ctx context.Context) error {
	wait := a.retryBase
	for {
		if a.mlflowReady != nil {
			if err := a.mlflowReady(ctx); err != nil {
				return err
			}
		}
		// Users of a release before readable usernames keep their user-ID
		// names: they are recorded before the gateway says it is ready.
		var events []Event
		err := a.seedNames(ctx)
		if err == nil {
			events, err = a.p.SyncRoles(ctx)
		}
		if err == nil {
			a.mappingApplied.Store(true)
			a.log.Info("role mapping applied", "changes", len(events))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, mlflow.ErrUnavailable) && !errors.Is(err, naming.ErrUnavailable) {
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

func (a *Policy) seedNames(ctx context.Context) error {
	if a.names == nil {
		return nil
	}
	return a.names.Seed(ctx)
}

// MappingApplied reports whether the role mapping has been applied in
// MLflow (the gateway is not ready until it has).
func (a *Policy) MappingApplied() bool { return a.mappingApplied.Load() }

// Explain writes what a Descope user gets in MLflow, and why.
func (a *Policy) Explain(ctx context.Context, id string, w io.Writer) error {
	o := a.p.opts
	deps := ExplainDeps{Descope: a.directory, Mapping: o.Mapping, AdminRoles: o.AdminRoles, Workspaces: o.Workspaces, MLflow: o.MLflow}
	if a.names != nil {
		deps.Names = a.names
	}
	return Explain(ctx, deps, id, w)
}

// SameAsUser is the rule for keys bound to a user: the key shares the
// user's MLflow username only when its own roles and tenants resolve to
// exactly the MLflow permissions the user's roles do. MLflow keeps one admin
// flag and one set of roles per username, so a key with other roles gets its
// own MLflow user instead of flipping the person's permissions back and
// forth.
func (a *Policy) SameAsUser(keyToken *descope.Token, u *descope.User) bool {
	if a.p.opts.Mapping.UsesPermissions() {
		// The user record names roles, not the permissions they carry, and
		// resolving without them could call a key with other permissions
		// "the same": when unsure, the key gets its own MLflow user.
		return false
	}
	keySubj := SubjectFromToken(u.UserID, keyToken)
	userSubj := SubjectFromUser(u, nil)
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
