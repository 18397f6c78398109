package naming

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
)

// MLflow is what the store asks MLflow: whether a user exists (a name
// MLflow has that the store did not give is taken), and every user (the
// seed); *mlflow.Client implements it.
type MLflow interface {
	User(ctx context.Context, name string) (mlflow.User, error)
	Users(ctx context.Context) ([]mlflow.User, error)
}

var _ MLflow = (*mlflow.Client)(nil)

// Record is one Descope user's MLflow username.
type Record struct {
	UserID   string
	Username string
	// LoginID and Email are the latest the gateway saw; FirstLoginID is the
	// login ID when the name was decided.
	LoginID      string
	Email        string
	FirstLoginID string
	// Source says how the name was decided (Source* constants); Reason, why
	// it is not simply what the mode gives, when it is not.
	Source  string
	Reason  string
	Created time.Time
	Updated time.Time
}

// Options configures a Store.
type Options struct {
	// DB is the gateway's database (the audit store's); Dialect is
	// "sqlite" or "postgres".
	DB      *sql.DB
	Dialect string
	// Mode is MLFLOW_DESCOPE_USERNAME (default ModeLoginID).
	Mode Mode
	// Reserved names are never given to a Descope user.
	Reserved Reserved
	// MLflow, if set, is asked whether a name is free and, on first use,
	// for the users to seed from.
	MLflow MLflow
	// Events, if set, receives event.UsernameAssigned and
	// event.LoginIDChanged.
	Events event.Sink
	// MaxCached bounds the names kept in memory (default 100000).
	MaxCached int
	Logger    *slog.Logger
	Now       func() time.Time
}

// Store keeps the mapping from Descope user ID to MLflow username. Names are
// read from memory once known (a mapping never changes); the database is
// asked on a miss. It is safe for concurrent use.
type Store struct {
	opts    Options
	flights singleflight.Group
	seeded  atomic.Bool

	mu     sync.RWMutex
	byUser map[string]Record
	byName map[string]string // username → user ID
}

// maxSuffix bounds the variants tried for one name (alice~2 … alice~100).
const maxSuffix = 100

// New returns a Store over opts.DB, creating its tables if needed.
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.DB == nil {
		return nil, errors.New("naming: a database is required")
	}
	if opts.Dialect != "sqlite" && opts.Dialect != "postgres" {
		return nil, fmt.Errorf("naming: unknown dialect %q", opts.Dialect)
	}
	if opts.Mode == "" {
		opts.Mode = ModeLoginID
	}
	if _, err := ParseMode(string(opts.Mode)); err != nil {
		return nil, fmt.Errorf("naming: mode: %w", err)
	}
	if opts.MaxCached <= 0 {
		opts.MaxCached = 100000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{opts: opts, byUser: map[string]Record{}, byName: map[string]string{}}
	if err := s.createTables(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Mode is the store's MLFLOW_DESCOPE_USERNAME.
func (s *Store) Mode() Mode { return s.opts.Mode }

// Lookup returns userID's mapping, if the user has one. Errors wrap
// ErrUnavailable.
func (s *Store) Lookup(ctx context.Context, userID string) (Record, bool, error) {
	s.mu.RLock()
	r, ok := s.byUser[userID]
	s.mu.RUnlock()
	if ok {
		return r, true, nil
	}
	r, ok, err := s.load(ctx, s.opts.DB, userID)
	if ok {
		s.remember(r)
	}
	return r, ok, err
}

// UserIDOf returns the Descope user ID whose MLflow username is username, if
// this process has seen the mapping (memory only: it is asked on every
// request while a user is blocked).
func (s *Store) UserIDOf(username string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byName[username]
	return id, ok
}

func (s *Store) remember(r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byUser[r.UserID]; !ok && len(s.byUser) >= s.opts.MaxCached {
		// Names never change, so starting over costs only database reads.
		clear(s.byUser)
		clear(s.byName)
	}
	s.byUser[r.UserID] = r
	s.byName[r.Username] = r.UserID
}

// Assign returns userID's MLflow username, deciding it if the user has none
// yet. profile is asked only then, for the login ID and email the name is
// made of; it returns ErrNoProfile if they cannot be known. Concurrent calls
// (on this replica or others) for one user agree on one name. Errors wrap
// ErrNoProfile or ErrUnavailable.
func (s *Store) Assign(ctx context.Context, userID string, profile func(context.Context) (Profile, error)) (Record, error) {
	if r, ok, err := s.Lookup(ctx, userID); err != nil || ok {
		return r, err
	}
	if userID == "" {
		return Record{}, errors.New("naming: empty user ID")
	}
	v, err, _ := s.flights.Do(userID, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		return s.assign(fctx, userID, profile)
	})
	if err != nil {
		return Record{}, err
	}
	r := v.(Record)
	s.remember(r)
	return r, nil
}

func (s *Store) assign(ctx context.Context, userID string, profile func(context.Context) (Profile, error)) (Record, error) {
	if r, ok, err := s.load(ctx, s.opts.DB, userID); err != nil || ok {
		return r, err
	}
	// A user of a release before this store has an MLflow user named by
	// their user ID, with their grants: that stays their name.
	if r, ok, err := s.adopt(ctx, userID); err != nil || ok {
		return r, err
	}
	if profile == nil {
		return Record{}, ErrNoProfile
	}
	p, err := profile(ctx)
	if err != nil {
		return Record{}, err
	}
	base, source, why := s.base(userID, p)
	now := s.opts.Now()
	r := Record{UserID: userID, LoginID: p.LoginID, Email: p.Email, FirstLoginID: p.LoginID,
		Source: source, Reason: why, Created: now, Updated: now}
	var taken []string
	for n := 1; n <= maxSuffix; n++ {
		name := suffixed(base, n)
		free, whose, err := s.free(ctx, userID, name)
		if err != nil {
			return Record{}, err
		}
		if !free {
			taken = append(taken, whose)
			continue
		}
		r.Username = name
		if len(taken) > 0 {
			r.Reason = join(r.Reason, taken[0])
		}
		got, inserted, err := s.insertLocked(ctx, r)
		if err != nil {
			return Record{}, err
		}
		if got.UserID != "" { // this user's row, ours or another replica's
			if inserted {
				s.assigned(got)
			}
			return got, nil
		}
		// Taken between the check and the insert: try the next variant.
		taken = append(taken, fmt.Sprintf("%q was taken at the same moment", name))
	}
	return Record{}, fmt.Errorf("naming: no free variant of %q for %s", base, userID)
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// base is the name the mode gives for p, or the user ID when that name
// cannot be used, with the source and why.
func (s *Store) base(userID string, p Profile) (name, source, why string) {
	name, source = userID, SourceUserID
	switch s.opts.Mode {
	case ModeLoginID:
		if p.LoginID != "" {
			name, source = p.LoginID, SourceLoginID
		}
	case ModeEmail:
		switch {
		case p.Email != "":
			name, source = p.Email, SourceEmail
		case p.LoginID != "":
			name, source, why = p.LoginID, SourceLoginID, "the user has no email; the login ID is used"
		}
	}
	if source == SourceUserID {
		if s.opts.Mode != ModeUserID && why == "" {
			why = "the user has no " + string(s.opts.Mode) + "; the user ID is used"
		}
		return name, source, why
	}
	if bad := unusable(name); bad != "" {
		return userID, SourceFallback, fmt.Sprintf("%s %q cannot be an MLflow username (%s); the user ID is used", source, name, bad)
	}
	if res, ok := s.opts.Reserved.Reserves(name); ok {
		return userID, SourceFallback, fmt.Sprintf("%s %q equals or looks like the reserved name %q; the user ID is used", source, name, res)
	}
	return name, source, why
}

// free reports whether name may be given to userID: no other user has it
// or a name that looks like it, it is not reserved, and MLflow has no user
// of that name that the store did not give (one made by hand, or by a
// release before this store). If not, whose says why.
func (s *Store) free(ctx context.Context, userID, name string) (free bool, whose string, err error) {
	if res, ok := s.opts.Reserved.Reserves(name); ok {
		return false, fmt.Sprintf("%q looks like the reserved name %q", name, res), nil
	}
	holderID, holderName, err := s.holder(ctx, s.opts.DB, name)
	if err != nil {
		return false, "", err
	}
	switch {
	case holderID == userID:
		return true, "", nil
	case holderName == name:
		return false, fmt.Sprintf("%q is the MLflow username of another Descope user (%s)", name, holderID), nil
	case holderID != "":
		return false, fmt.Sprintf("%q looks like %q, the MLflow username of another Descope user (%s)", name, holderName, holderID), nil
	}
	if s.opts.MLflow != nil {
		_, err := s.opts.MLflow.User(ctx, name)
		switch {
		case err == nil:
			return false, fmt.Sprintf("%q is an MLflow user the gateway did not name", name), nil
		case !errors.Is(err, mlflow.ErrNotFound):
			return false, "", fmt.Errorf("%w: ask MLflow about %q: %w", ErrUnavailable, name, err)
		}
	}
	return true, "", nil
}

// insertLocked inserts r under the creation lock after checking again that
// the user has no name yet and that no one has r's name or one that looks
// like it. It returns the user's row (r, or the one another replica wrote
// first) and whether it inserted r; a zero Record means r.Username was
// taken meanwhile.
func (s *Store) insertLocked(ctx context.Context, r Record) (Record, bool, error) {
	tx, err := s.opts.DB.BeginTx(ctx, nil)
	if err != nil {
		return Record{}, false, fmt.Errorf("%w: begin: %w", ErrUnavailable, err)
	}
	defer tx.Rollback()
	if err := s.lockAssign(ctx, tx); err != nil {
		return Record{}, false, err
	}
	if got, ok, err := s.load(ctx, tx, r.UserID); err != nil || ok {
		if err == nil {
			err = tx.Commit()
		}
		return got, false, err
	}
	holderID, _, err := s.holder(ctx, tx, r.Username)
	if err != nil {
		return Record{}, false, err
	}
	if holderID != "" {
		return Record{}, false, nil
	}
	ok, err := s.insert(ctx, tx, r)
	if err != nil {
		return Record{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return Record{}, false, fmt.Errorf("%w: commit: %w", ErrUnavailable, err)
	}
	if !ok {
		return Record{}, false, nil
	}
	return r, true, nil
}

// adopt gives userID its own user ID as its name when MLflow has a user of
// that name that no other mapping holds: the name a release before this
// store gave it, with every grant it holds.
func (s *Store) adopt(ctx context.Context, userID string) (Record, bool, error) {
	if s.opts.MLflow == nil || unusable(userID) != "" {
		return Record{}, false, nil
	}
	if _, ok := s.opts.Reserved.Reserves(userID); ok {
		return Record{}, false, nil
	}
	_, err := s.opts.MLflow.User(ctx, userID)
	switch {
	case errors.Is(err, mlflow.ErrNotFound):
		return Record{}, false, nil
	case err != nil:
		return Record{}, false, fmt.Errorf("%w: ask MLflow about %q: %w", ErrUnavailable, userID, err)
	}
	now := s.opts.Now()
	r := Record{UserID: userID, Username: userID, Source: SourceAdopted,
		Reason: "MLflow user named by the user ID, made by a release before readable usernames", Created: now, Updated: now}
	ok, err := s.insert(ctx, s.opts.DB, r)
	if err != nil {
		return Record{}, false, err
	}
	if ok {
		s.assigned(r)
		return r, true, nil
	}
	// Another replica adopted it first, or (absurdly) another user's login
	// ID is this user ID: then the name is theirs and this user gets a new
	// one.
	return s.load(ctx, s.opts.DB, userID)
}

func (s *Store) assigned(r Record) {
	s.opts.Logger.Info("mlflow username assigned", "user_id", r.UserID, "username", r.Username, "source", r.Source, "reason", r.Reason)
	event.Send(s.opts.Events, event.UsernameAssigned{UserID: r.UserID, Username: r.Username, LoginID: r.LoginID,
		Email: r.Email, Source: r.Source, Reason: r.Reason})
}

// NoteProfile records the login ID and email a user has now. The MLflow
// username never changes; a changed login ID is reported
// (event.LoginIDChanged) and shown on the admin page. A user without a
// mapping is ignored.
func (s *Store) NoteProfile(ctx context.Context, userID string, p Profile) error {
	if p.LoginID == "" && p.Email == "" {
		return nil
	}
	r, ok, err := s.Lookup(ctx, userID)
	if err != nil || !ok {
		return err
	}
	loginChanged := p.LoginID != "" && p.LoginID != r.LoginID
	emailChanged := p.Email != "" && p.Email != r.Email
	if !loginChanged && !emailChanged {
		return nil
	}
	old := r
	if loginChanged {
		r.LoginID = p.LoginID
	}
	if emailChanged {
		r.Email = p.Email
	}
	r.Updated = s.opts.Now()
	if _, err := s.opts.DB.ExecContext(ctx,
		`UPDATE mda_usernames SET login_id = $1, email = $2, updated_at = $3 WHERE user_id = $4`,
		r.LoginID, r.Email, r.Updated.UnixMicro(), r.UserID); err != nil {
		return fmt.Errorf("%w: update %q: %w", ErrUnavailable, userID, err)
	}
	s.remember(r)
	if loginChanged && old.LoginID != "" {
		s.opts.Logger.Info("login id changed; mlflow username kept", "user_id", r.UserID, "username", r.Username, "from", old.LoginID, "to", r.LoginID)
		event.Send(s.opts.Events, event.LoginIDChanged{UserID: r.UserID, Username: r.Username, From: old.LoginID, To: r.LoginID})
	}
	return nil
}

// Find returns the mappings q names: by user ID, by MLflow username, or by
// the latest login ID or email (a reassigned login ID can name two), best
// match first.
func (s *Store) Find(ctx context.Context, q string) ([]Record, error) {
	rows, err := s.opts.DB.QueryContext(ctx, `SELECT `+columns+` FROM mda_usernames
		WHERE user_id = $1 OR username = $1 OR login_id = $1 OR email = $1 OR first_login_id = $1
		ORDER BY CASE WHEN user_id = $1 THEN 0 WHEN username = $1 THEN 1 WHEN login_id = $1 THEN 2 ELSE 3 END, updated_at DESC
		LIMIT 20`, q)
	if err != nil {
		return nil, fmt.Errorf("%w: find %q: %w", ErrUnavailable, q, err)
	}
	return collect(rows)
}

// All returns every mapping (the user sync walks them).
func (s *Store) All(ctx context.Context) ([]Record, error) {
	rows, err := s.opts.DB.QueryContext(ctx, `SELECT `+columns+` FROM mda_usernames ORDER BY user_id`)
	if err != nil {
		return nil, fmt.Errorf("%w: list: %w", ErrUnavailable, err)
	}
	return collect(rows)
}

func collect(rows *sql.Rows) ([]Record, error) {
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("%w: read: %w", ErrUnavailable, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: read: %w", ErrUnavailable, err)
	}
	return out, nil
}

// Seed records every MLflow user (but the reserved ones) as the mapping of
// a Descope user whose ID is its name, once per database: the names a
// release before this store gave, so that each keeps its user and grants,
// the user sync finds them, and no newcomer is given one of them. Replicas
// seeding at once do no harm.
func (s *Store) Seed(ctx context.Context) error {
	if s.opts.MLflow == nil || s.seeded.Load() {
		return nil
	}
	var v string
	err := s.opts.DB.QueryRowContext(ctx, `SELECT value FROM mda_state WHERE name = $1`, seededState).Scan(&v)
	switch {
	case err == nil:
		s.seeded.Store(true)
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: seed: %w", ErrUnavailable, err)
	}
	users, err := s.opts.MLflow.Users(ctx)
	if err != nil {
		return fmt.Errorf("naming: seed: list mlflow users: %w", err)
	}
	n := 0
	for _, u := range users {
		if _, ok := s.opts.Reserved.Reserves(u.Username); ok || u.Username == "" {
			continue
		}
		now := s.opts.Now()
		r := Record{UserID: u.Username, Username: u.Username, Source: SourceSeeded,
			Reason: "MLflow user that existed when readable usernames were introduced", Created: now, Updated: now}
		ok, err := s.insert(ctx, s.opts.DB, r)
		if err != nil {
			return fmt.Errorf("naming: seed: %w", err)
		}
		if ok {
			n++
			s.assigned(r)
		}
	}
	if _, err := s.opts.DB.ExecContext(ctx, `INSERT INTO mda_state (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		seededState, s.opts.Now().UTC().Format(time.RFC3339)); err != nil {
		return fmt.Errorf("%w: seed: %w", ErrUnavailable, err)
	}
	s.seeded.Store(true)
	s.opts.Logger.Info("mlflow usernames seeded from mlflow", "mlflow_users", len(users), "seeded", n)
	return nil
}
