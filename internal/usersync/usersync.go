// Package usersync brings MLflow in line with Descope without waiting for
// sign-ins: on a timer it pages through every Descope user (management API),
// re-reconciles the MLflow users it knows about with their current roles and
// tenants, and revokes every role and the admin flag of users disabled or
// deleted in Descope, whom it also reports as blocked so the gateway refuses
// their still-valid session tokens.
package usersync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/lease"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
)

// Descope is the part of the management API the sync uses;
// *descope.Client implements it.
type Descope interface {
	SearchUsers(ctx context.Context, s descope.UserSearch) (*descope.UserPage, error)
	UserByID(ctx context.Context, userID string) (*descope.User, error)
	Roles(ctx context.Context) ([]descope.Role, error)
}

// Users lists MLflow's users; *mlflow.Client implements it.
type Users interface {
	Users(ctx context.Context) ([]mlflow.User, error)
}

// Provisioner applies decisions; *provision.Provisioner implements it.
type Provisioner interface {
	Reconcile(ctx context.Context, s provision.Subject) ([]provision.Event, error)
	Revoke(ctx context.Context, username, reason string) ([]provision.Event, error)
}

// Names maps Descope user IDs to MLflow usernames; *naming.Store
// implements it.
type Names interface {
	All(ctx context.Context) ([]naming.Record, error)
	NoteProfile(ctx context.Context, userID string, p naming.Profile) error
}

var (
	_ Names       = (*naming.Store)(nil)
	_ Descope     = (*descope.Client)(nil)
	_ Users       = (*mlflow.Client)(nil)
	_ Provisioner = (*provision.Provisioner)(nil)
)

// Options configures a Syncer.
type Options struct {
	Descope     Descope
	MLflow      Users
	Provisioner Provisioner
	// AdminUsername is MLflow's bootstrap admin; never touched.
	AdminUsername string
	// Interval between runs (default 5m).
	Interval time.Duration
	// PageSize of user searches (default 100, Descope's maximum page).
	PageSize int
	// MaxRetries of one page after a 429 or 5xx (default 5).
	MaxRetries int
	// OnDisabled, if set, is told (once per run) about each blocked user ID,
	// e.g. to drop their sessions.
	OnDisabled func(userID string)
	// Blocklist records the users found disabled or deleted; kept in the
	// gateway's database it is shared by replicas and survives restarts.
	// nil: a list in this process only.
	Blocklist *denylist.List
	// Names finds each Descope user's MLflow user (and records login ID
	// changes); nil: every MLflow username is a Descope user ID, as in
	// releases before readable usernames.
	Names Names
	// Lease, if set, makes the sync run on one replica of those sharing
	// the gateway's database at a time (see internal/lease); nil: it runs
	// here.
	Lease *lease.Lease
	// Events, if set, receives an event.SyncRun after every completed run
	// (audit, metrics).
	Events event.Sink
	Logger *slog.Logger
	Now    func() time.Time
	// Sleep waits d or until ctx ends (default: a timer); tests shorten it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Report says what one run saw and changed.
type Report struct {
	Started, Finished time.Time
	DescopeUsers      int      // users seen in the search
	MLflowUsers       int      // MLflow users the sync is responsible for
	Reconciled        []string // usernames whose MLflow state changed
	Disabled          []string // blocked because Descope says disabled/expired
	Deleted           []string // blocked because Descope no longer has them
	Unblocked         []string // enabled again
	Failed            map[string]string
	Events            []provision.Event
}

// Syncer runs the sync. Blocked is safe for concurrent use.
type Syncer struct {
	opts  Options
	runMu sync.Mutex
	last  atomic.Pointer[outcome] // the last completed run, for Status
}

type outcome struct {
	report Report
	err    error
}

// New validates opts and returns a Syncer.
func New(opts Options) (*Syncer, error) {
	switch {
	case opts.Descope == nil:
		return nil, errors.New("usersync: a descope client with a management key is required")
	case opts.MLflow == nil:
		return nil, errors.New("usersync: mlflow client is required")
	case opts.Provisioner == nil:
		return nil, errors.New("usersync: provisioner is required")
	case opts.AdminUsername == "":
		return nil, errors.New("usersync: admin username is required")
	}
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Minute
	}
	if opts.PageSize <= 0 || opts.PageSize > 100 {
		opts.PageSize = 100
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 5
	}
	if opts.OnDisabled == nil {
		opts.OnDisabled = func(string) {}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Blocklist == nil {
		opts.Blocklist = denylist.Memory()
	}
	return &Syncer{opts: opts}, nil
}

// Blocked reports whether a Descope user ID is disabled or deleted in
// Descope as of the last run. The gateway refuses such users.
func (s *Syncer) Blocked(userID string) bool { return s.opts.Blocklist.Blocked(userID) }

// Run syncs at once and then every Interval until ctx ends; it returns nil
// then. A failed run (Descope or MLflow down) is logged and retried at the
// next tick. With a Lease, it syncs only while this replica holds it: on
// taking the lease over, at once.
func (s *Syncer) Run(ctx context.Context) error {
	if s.opts.Lease != nil {
		return s.opts.Lease.Run(ctx, s.loop)
	}
	return s.loop(ctx)
}

func (s *Syncer) loop(ctx context.Context) error {
	for {
		rep, err := s.RunOnce(ctx)
		if ctx.Err() == nil {
			s.last.Store(&outcome{report: rep, err: err})
			event.Send(s.opts.Events, s.syncRun(rep, err))
		}
		if err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("user sync failed", "err", err)
		} else if err == nil {
			s.opts.Logger.Info("user sync done", "descope_users", rep.DescopeUsers, "mlflow_users", rep.MLflowUsers,
				"reconciled", len(rep.Reconciled), "disabled", len(rep.Disabled), "deleted", len(rep.Deleted), "failed", len(rep.Failed),
				"duration", rep.Finished.Sub(rep.Started))
		}
		if err := s.opts.Sleep(ctx, s.opts.Interval); err != nil {
			return nil
		}
	}
}

// managed reports whether an MLflow username stands for a Descope user.
func (s *Syncer) managed(username string) bool {
	return username != s.opts.AdminUsername && !strings.HasPrefix(username, "access-key-")
}

// RunOnce makes one full pass. It returns an error, having changed nothing
// for users it could not see, if the user list could not be read completely
// (Descope down, rate limits beyond MaxRetries, MLflow down).
func (s *Syncer) RunOnce(ctx context.Context) (rep Report, err error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	rep = Report{Started: s.opts.Now(), Failed: map[string]string{}}
	defer func() { rep.Finished = s.opts.Now() }()
	mlUsers, err := s.opts.MLflow.Users(ctx)
	if err != nil {
		return rep, fmt.Errorf("usersync: list mlflow users: %w", err)
	}
	known := map[string]bool{}
	for _, u := range mlUsers {
		if s.managed(u.Username) {
			known[u.Username] = true
		}
	}
	rep.MLflowUsers = len(known)
	// Each Descope user's MLflow user, through the mapping: the names are
	// not user IDs (and a login ID may now belong to someone else).
	byUser, err := s.mlflowUsers(ctx, known)
	if err != nil {
		return rep, err
	}
	var roles []descope.Role
	if err := s.retry(ctx, "list roles", func() (err error) { roles, err = s.opts.Descope.Roles(ctx); return err }); err != nil {
		return rep, err
	}
	users, err := s.allUsers(ctx)
	if err != nil {
		return rep, err
	}
	rep.DescopeUsers = len(users)
	seen := map[string]bool{}
	for i := range users {
		u := &users[i]
		seen[u.UserID] = true
		rec, ok := byUser[u.UserID]
		if !ok {
			continue
		}
		s.noteProfile(ctx, u, rec)
		if blockedStatus(u.Status) {
			s.block(ctx, &rep, u.UserID, rec.Username, "descope status "+u.Status, &rep.Disabled)
			continue
		}
		s.unblock(ctx, &rep, u.UserID)
		subj := provision.SubjectFromUser(u, roles)
		subj.Username = rec.Username
		evs, err := s.opts.Provisioner.Reconcile(ctx, subj)
		s.record(&rep, rec.Username, evs, err)
	}
	for userID, rec := range byUser {
		if seen[userID] {
			continue
		}
		// Deleted users never appear in a search; confirm before revoking.
		var gone bool
		err := s.retry(ctx, "load user", func() error {
			_, err := s.opts.Descope.UserByID(ctx, userID)
			gone = notFound(err)
			if gone {
				return nil
			}
			return err
		})
		switch {
		case gone:
			s.block(ctx, &rep, userID, rec.Username, "deleted in descope", &rep.Deleted)
		case err != nil:
			rep.Failed[rec.Username] = err.Error()
		}
	}
	return rep, nil
}

// mlflowUsers maps the Descope user IDs that have an MLflow user among
// known to their MLflow usernames.
func (s *Syncer) mlflowUsers(ctx context.Context, known map[string]bool) (map[string]naming.Record, error) {
	out := map[string]naming.Record{}
	if s.opts.Names == nil {
		for name := range known {
			out[name] = naming.Record{UserID: name, Username: name}
		}
		return out, nil
	}
	recs, err := s.opts.Names.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("usersync: mlflow usernames: %w", err)
	}
	for _, r := range recs {
		if known[r.Username] {
			out[r.UserID] = r
		}
	}
	return out, nil
}

// noteProfile records a user's current login ID and email for the admin
// page, when they changed.
func (s *Syncer) noteProfile(ctx context.Context, u *descope.User, rec naming.Record) {
	if s.opts.Names == nil {
		return
	}
	p := naming.Profile{Email: u.Email}
	if len(u.LoginIDs) > 0 {
		p.LoginID = u.LoginIDs[0]
	}
	if p.LoginID == rec.LoginID && (p.Email == "" || p.Email == rec.Email) {
		return
	}
	if err := s.opts.Names.NoteProfile(ctx, u.UserID, p); err != nil {
		s.opts.Logger.Warn("user sync: login id not recorded", "user_id", u.UserID, "err", err)
	}
}

func (s *Syncer) record(rep *Report, username string, evs []provision.Event, err error) {
	rep.Events = append(rep.Events, evs...)
	if len(evs) > 0 {
		rep.Reconciled = append(rep.Reconciled, username)
	}
	if err != nil {
		rep.Failed[username] = err.Error()
		s.opts.Logger.Warn("user sync: reconcile failed", "username", username, "err", err)
	}
}

func (s *Syncer) block(ctx context.Context, rep *Report, userID, username, reason string, list *[]string) {
	added, err := s.opts.Blocklist.Block(ctx, userID, reason)
	if err != nil {
		s.opts.Logger.Warn("user sync: block not shared with other replicas yet", "user_id", userID, "err", err)
	}
	if added {
		*list = append(*list, userID)
	}
	s.opts.OnDisabled(userID)
	evs, err := s.opts.Provisioner.Revoke(ctx, username, reason)
	s.record(rep, username, evs, err)
}

func (s *Syncer) unblock(ctx context.Context, rep *Report, userID string) {
	if !s.opts.Blocklist.Blocked(userID) {
		return
	}
	was, err := s.opts.Blocklist.Unblock(ctx, userID)
	if err != nil {
		s.opts.Logger.Warn("user sync: unblock not shared with other replicas yet", "user_id", userID, "err", err)
	}
	if was {
		rep.Unblocked = append(rep.Unblocked, userID)
	}
}

// blockedStatus: disabled users, and invitations that expired.
func blockedStatus(status string) bool { return status == "disabled" || status == "expired" }

// notFound reports whether Descope said the user does not exist (either of
// its "user not found" codes); see descope.IsUserNotFound.
func notFound(err error) bool { return descope.IsUserNotFound(err) }

// allUsers pages through every user (any status).
func (s *Syncer) allUsers(ctx context.Context) ([]descope.User, error) {
	var out []descope.User
	for page := 0; ; page++ {
		var p *descope.UserPage
		err := s.retry(ctx, fmt.Sprintf("search users page %d", page), func() (err error) {
			p, err = s.opts.Descope.SearchUsers(ctx, descope.UserSearch{Limit: s.opts.PageSize, Page: page})
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, p.Users...)
		if len(p.Users) < s.opts.PageSize || (p.Total > 0 && len(out) >= p.Total) {
			return out, nil
		}
		if page > 100000 {
			return nil, errors.New("usersync: search users: too many pages")
		}
	}
}

// retry calls f until it succeeds, fails for good, or MaxRetries transient
// failures (429, 5xx, network) have passed, waiting Retry-After when Descope
// names it, else an exponential backoff with jitter.
func (s *Syncer) retry(ctx context.Context, what string, f func() error) error {
	backoff := time.Second
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if !errors.Is(err, descope.ErrUnavailable) || attempt >= s.opts.MaxRetries {
			return fmt.Errorf("usersync: %s: %w", what, err)
		}
		wait := descope.RetryAfter(err)
		if wait <= 0 {
			wait = backoff + rand.N(backoff/2+1)
			backoff = min(backoff*2, time.Minute)
		}
		s.opts.Logger.Info("user sync: descope busy, waiting", "op", what, "wait", wait, "attempt", attempt+1)
		if err := s.opts.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("usersync: %s: %w", what, err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
