// Package provision makes MLflow's user table follow Descope: before a
// signed-in identity's request reaches MLflow, its MLflow user exists with the
// admin flag (and, with a mapping, the roles) that its Descope token implies.
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

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
)

// MLflow is the part of MLflow's admin API provisioning needs.
type MLflow interface {
	User(ctx context.Context, name string) (mlflow.User, error)
	CreateUser(ctx context.Context, name, password string) error
	SetAdmin(ctx context.Context, name string, admin bool) error
}

// Subject is what provisioning needs to know about an identity.
type Subject struct {
	Username string
	Admin    bool
}

// fingerprint identifies the desired state, so an unchanged identity costs a
// map lookup and a changed one (a role granted or taken away) is reconciled
// at once.
func (s Subject) fingerprint() string {
	var b strings.Builder
	b.WriteString(s.Username)
	if s.Admin {
		b.WriteString("|admin")
	}
	return b.String()
}

// Event reports a change provisioning made in MLflow, for the audit trail.
type Event struct {
	Action   string // provision_user, set_admin
	Username string
	Detail   string
}

// Options configures a Provisioner.
type Options struct {
	MLflow MLflow
	// TTL: how long a reconciled user is trusted to still match before it is
	// checked again, which also catches edits made in MLflow directly
	// (default 10m).
	TTL time.Duration
	// MaxEntries bounds the cache (default 100000).
	MaxEntries int
	// OnChange, if set, is told about every change (audit).
	OnChange func(Event)
	Logger   *slog.Logger
	Now      func() time.Time
}

// Provisioner creates and updates MLflow users.
type Provisioner struct {
	opts    Options
	flights singleflight.Group
	mu      sync.Mutex
	done    map[string]done
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
	if opts.OnChange == nil {
		opts.OnChange = func(Event) {}
	}
	return &Provisioner{opts: opts, done: map[string]done{}}, nil
}

// Ensure makes MLflow match s. Concurrent calls for one user share one
// reconciliation; a user created at the same moment by another gateway
// replica is not an error.
func (p *Provisioner) Ensure(ctx context.Context, s Subject) error {
	if s.Username == "" {
		return errors.New("provision: empty username")
	}
	fp := s.fingerprint()
	if p.fresh(s.Username, fp) {
		return nil
	}
	_, err, _ := p.flights.Do(fp, func() (any, error) {
		if p.fresh(s.Username, fp) {
			return nil, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if err := p.reconcile(fctx, s); err != nil {
			return nil, err
		}
		p.remember(s.Username, fp)
		return nil, nil
	})
	return err
}

// Forget makes the next Ensure for username check MLflow again.
func (p *Provisioner) Forget(username string) {
	p.mu.Lock()
	delete(p.done, username)
	p.mu.Unlock()
}

func (p *Provisioner) reconcile(ctx context.Context, s Subject) error {
	u, err := p.opts.MLflow.User(ctx, s.Username)
	switch {
	case errors.Is(err, mlflow.ErrNotFound):
		pw, err := randomPassword()
		if err != nil {
			return err
		}
		// The password is never used: MLflow only ever sees this user through
		// the gateway's assertion. It is random so MLflow's own Basic login
		// cannot be guessed either.
		err = p.opts.MLflow.CreateUser(ctx, s.Username, pw)
		if err != nil && !errors.Is(err, mlflow.ErrAlreadyExists) {
			return fmt.Errorf("provision: create %q: %w", s.Username, err)
		}
		if err == nil {
			p.opts.OnChange(Event{Action: "provision_user", Username: s.Username})
			p.opts.Logger.Info("created mlflow user", "username", s.Username)
		}
		u = mlflow.User{Username: s.Username}
		if errors.Is(err, mlflow.ErrAlreadyExists) {
			if u, err = p.opts.MLflow.User(ctx, s.Username); err != nil {
				return fmt.Errorf("provision: reload %q: %w", s.Username, err)
			}
		}
	case err != nil:
		return fmt.Errorf("provision: load %q: %w", s.Username, err)
	}
	if u.IsAdmin != s.Admin {
		if err := p.opts.MLflow.SetAdmin(ctx, s.Username, s.Admin); err != nil {
			return fmt.Errorf("provision: set admin of %q: %w", s.Username, err)
		}
		p.opts.OnChange(Event{Action: "set_admin", Username: s.Username, Detail: fmt.Sprintf("is_admin=%t", s.Admin)})
		p.opts.Logger.Info("changed mlflow admin flag", "username", s.Username, "is_admin", s.Admin)
	}
	return nil
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

