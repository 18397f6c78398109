// Package session keeps browser sessions: the Descope JWTs in HttpOnly
// cookies, validation on every request, one server-side refresh at a time per
// session, and post-login redirect validation.
package session

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/handoff"
)

// Errors returned by Manager.Authenticate.
var (
	// ErrNoSession: the request carries no usable session; sign in.
	ErrNoSession = errors.New("session: no session")
	// ErrEnded: Descope refused the refresh token (revoked, expired, user
	// disabled); the cookies have been cleared.
	ErrEnded = errors.New("session: ended")
)

// Verifier checks Descope JWTs.
type Verifier interface {
	Verify(ctx context.Context, raw string, kind descope.Kind) (*descope.Token, error)
}

// Refresher exchanges a refresh JWT for a new session JWT.
type Refresher interface {
	Refresh(ctx context.Context, refreshJWT string) (*descope.RefreshResult, error)
}

// Handoff shares refresh outcomes between replicas, so that replicas
// refreshing the same refresh token at once spend it once;
// *handoff.Store implements it.
type Handoff interface {
	// Do returns the tokens that replace refreshJWT: another replica's
	// result, or refresh's (run by one replica at a time per token).
	Do(ctx context.Context, refreshJWT string, refresh func(context.Context) (handoff.Tokens, error)) (handoff.Tokens, error)
	// Forget drops every result for these tokens (sign-out).
	Forget(ctx context.Context, tokens ...string) error
}

var _ Handoff = (*handoff.Store)(nil)

// Options configures a Manager.
type Options struct {
	Verifier  Verifier
	Refresher Refresher
	Cookies   Cookies
	Logger    *slog.Logger
	Now       func() time.Time
	// RefreshedTTL is how long a completed refresh is remembered, so requests
	// that still carry the old cookies (sent before the browser saw the new
	// ones) reuse it instead of refreshing again with a rotated-away token.
	RefreshedTTL time.Duration
	// MaxRemembered bounds that memory.
	MaxRemembered int
	// SignedOut lists the tokens of signed-out sessions; shared by all
	// replicas when it is kept in the gateway's database. nil: a list in
	// this process only.
	SignedOut *denylist.List
	// Handoff, if set, shares refreshes with the other replicas (kept in
	// the gateway's PostgreSQL database). nil: refreshes are shared by the
	// requests of this process only.
	Handoff Handoff
}

// Manager authenticates browser requests from their cookies.
type Manager struct {
	opts    Options
	flights singleflight.Group

	mu        sync.Mutex
	refreshed map[[32]byte]refreshed
}

type refreshed struct {
	session *descope.Token
	refresh string
	at      time.Time
}

// Session is an authenticated browser session.
type Session struct {
	Token      *descope.Token
	RefreshJWT string
	// Refreshed is set when this request refreshed the session (and new
	// cookies were written).
	Refreshed bool
}

// NewManager returns a Manager.
func NewManager(opts Options) (*Manager, error) {
	if opts.Verifier == nil || opts.Refresher == nil {
		return nil, errors.New("session: verifier and refresher are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RefreshedTTL <= 0 {
		opts.RefreshedTTL = 30 * time.Second
	}
	if opts.MaxRemembered <= 0 {
		opts.MaxRemembered = 10000
	}
	if opts.SignedOut == nil {
		opts.SignedOut = denylist.Memory()
	}
	return &Manager{opts: opts, refreshed: map[[32]byte]refreshed{}}, nil
}

// Cookies returns the cookie settings (names, and reading them).
func (m *Manager) Cookies() Cookies { return m.opts.Cookies }

// SetCookies starts a browser session: both JWTs go into HttpOnly cookies
// that live until the refresh token expires (until).
func (m *Manager) SetCookies(w http.ResponseWriter, sessionJWT, refreshJWT string, until time.Time) {
	m.opts.Cookies.set(w, sessionJWT, refreshJWT, until, m.opts.Now())
}

// ClearCookies ends a browser session's cookies (sign-out).
func (m *Manager) ClearCookies(w http.ResponseWriter) { m.opts.Cookies.clear(w) }

// Authenticate validates the request's session cookies, refreshing an expired
// session JWT server-side (writing the new cookies to w). It returns
// ErrNoSession, ErrEnded, or an error that wraps descope.ErrUnavailable when
// Descope could not be reached (the cookies are kept).
func (m *Manager) Authenticate(w http.ResponseWriter, r *http.Request) (*Session, error) {
	ctx := r.Context()
	sessionJWT, refreshJWT := m.opts.Cookies.Read(r)
	if sessionJWT == "" && refreshJWT == "" {
		return nil, ErrNoSession
	}
	if m.isRevoked(sessionJWT) || m.isRevoked(refreshJWT) {
		m.opts.Cookies.clear(w)
		return nil, fmt.Errorf("%w: signed out", ErrEnded)
	}
	if sessionJWT != "" {
		tok, err := m.opts.Verifier.Verify(ctx, sessionJWT, descope.KindSession)
		if err == nil {
			return &Session{Token: tok, RefreshJWT: refreshJWT}, nil
		}
		if errors.Is(err, descope.ErrKeysUnavailable) {
			return nil, fmt.Errorf("session: %w", err)
		}
		if refreshJWT == "" {
			m.opts.Cookies.clear(w)
			return nil, fmt.Errorf("%w: %w", ErrNoSession, err)
		}
	}
	// The refresh token must be a genuine, unexpired refresh token of this
	// project before it is sent anywhere.
	rt, err := m.opts.Verifier.Verify(ctx, refreshJWT, descope.KindRefresh)
	if err != nil {
		if errors.Is(err, descope.ErrKeysUnavailable) {
			return nil, fmt.Errorf("session: %w", err)
		}
		m.opts.Cookies.clear(w)
		return nil, fmt.Errorf("%w: refresh token: %w", ErrNoSession, err)
	}
	res, err := m.refresh(ctx, refreshJWT)
	if err != nil {
		if errors.Is(err, descope.ErrUnavailable) || errors.Is(err, descope.ErrKeysUnavailable) {
			return nil, err
		}
		m.opts.Cookies.clear(w)
		return nil, fmt.Errorf("%w: %w", ErrEnded, err)
	}
	// A refresh remembered (here or by another replica) for the old
	// cookies may have handed out tokens signed out since: replaying the
	// old cookies must not revive them.
	if m.isRevoked(res.session.Raw) || m.isRevoked(res.refresh) {
		m.opts.Cookies.clear(w)
		return nil, fmt.Errorf("%w: signed out", ErrEnded)
	}
	if res.session.Subject != rt.Subject {
		// Never expected from Descope; from the shared store only if it
		// was tampered with. Refuse rather than switch users.
		m.opts.Cookies.clear(w)
		return nil, fmt.Errorf("%w: refreshed session is for another user", ErrEnded)
	}
	until := rt.Expiry
	if res.refresh != refreshJWT {
		if nt, err := m.opts.Verifier.Verify(ctx, res.refresh, descope.KindRefresh); err == nil {
			until = nt.Expiry
		}
	}
	m.opts.Cookies.set(w, res.session.Raw, res.refresh, until, m.opts.Now())
	return &Session{Token: res.session, RefreshJWT: res.refresh, Refreshed: true}, nil
}

// Timeouts of a refresh, detached from the first caller's cancellation
// (others share the call): the call to Descope, and the whole refresh,
// which with a Handoff may first wait for another replica's refresh of the
// same token (handoff's HoldTimeout, 20 s, plus its lock timeout's margin).
const (
	descopeRefreshTimeout = 15 * time.Second
	refreshTimeout        = 45 * time.Second
)

// refresh runs at most one Descope refresh per refresh token at a time (per
// cluster with a Handoff), and remembers the outcome briefly for requests
// still carrying the old cookies.
func (m *Manager) refresh(ctx context.Context, refreshJWT string) (refreshed, error) {
	key := sha256.Sum256([]byte(refreshJWT))
	if r, ok := m.remembered(key); ok {
		return r, nil
	}
	v, err, _ := m.flights.Do(string(key[:]), func() (any, error) {
		if r, ok := m.remembered(key); ok {
			return r, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		defer cancel()
		atDescope := func(ctx context.Context) (handoff.Tokens, error) { return m.refreshAtDescope(ctx, refreshJWT) }
		var (
			t   handoff.Tokens
			err error
		)
		if m.opts.Handoff != nil {
			t, err = m.opts.Handoff.Do(fctx, refreshJWT, atDescope)
		} else {
			t, err = atDescope(fctx)
		}
		if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, descope.ErrUnavailable) {
			// Out of time waiting (for another replica's refresh, or for
			// the database): transient, the session is not over.
			err = fmt.Errorf("session: refresh: %w: %w", descope.ErrUnavailable, err)
		}
		if err != nil {
			return refreshed{}, err
		}
		// Checked again when it came from another replica: the database is
		// not trusted with deciding who is signed in.
		tok, err := m.verifyRefreshed(fctx, t.Session)
		if err != nil {
			return refreshed{}, err
		}
		r := refreshed{session: tok, refresh: t.Refresh, at: m.opts.Now()}
		m.remember(key, r)
		return r, nil
	})
	if err != nil {
		return refreshed{}, err
	}
	return v.(refreshed), nil
}

// refreshAtDescope exchanges refreshJWT at Descope and checks the session
// JWT it returns.
func (m *Manager) refreshAtDescope(ctx context.Context, refreshJWT string) (handoff.Tokens, error) {
	ctx, cancel := context.WithTimeout(ctx, descopeRefreshTimeout)
	defer cancel()
	res, err := m.opts.Refresher.Refresh(ctx, refreshJWT)
	if err != nil {
		return handoff.Tokens{}, fmt.Errorf("session: refresh: %w", err)
	}
	tok, err := m.verifyRefreshed(ctx, res.SessionJWT)
	if err != nil {
		return handoff.Tokens{}, err
	}
	t := handoff.Tokens{Session: res.SessionJWT, Refresh: refreshJWT, Until: tok.Expiry}
	if res.RefreshJWT != "" {
		t.Refresh = res.RefreshJWT
	}
	return t, nil
}

// verifyRefreshed checks a session JWT that a refresh just produced.
func (m *Manager) verifyRefreshed(ctx context.Context, sessionJWT string) (*descope.Token, error) {
	tok, err := m.opts.Verifier.Verify(ctx, sessionJWT, descope.KindSession)
	if errors.Is(err, descope.ErrUnknownKey) {
		// Descope just signed it: our copy of its keys is stale (a
		// refetch may be rate-limited), not the session bad.
		return nil, fmt.Errorf("session: refreshed token: %w: %w", descope.ErrKeysUnavailable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("session: refreshed token: %w", err)
	}
	return tok, nil
}

func (m *Manager) remembered(key [32]byte) (refreshed, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.refreshed[key]
	if !ok {
		return refreshed{}, false
	}
	now := m.opts.Now()
	if now.Sub(r.at) > m.opts.RefreshedTTL || !now.Before(r.session.Expiry) {
		delete(m.refreshed, key)
		return refreshed{}, false
	}
	return r, true
}

func (m *Manager) remember(key [32]byte, r refreshed) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.refreshed) >= m.opts.MaxRemembered {
		now := m.opts.Now()
		for k, v := range m.refreshed {
			if now.Sub(v.at) > m.opts.RefreshedTTL {
				delete(m.refreshed, k)
			}
		}
		// Still full: forget an arbitrary entry rather than grow.
		for k := range m.refreshed {
			if len(m.refreshed) < m.opts.MaxRemembered {
				break
			}
			delete(m.refreshed, k)
		}
	}
	m.refreshed[key] = r
}

// Revoke ends a session at sign-out: its tokens are refused from now until
// they would have expired anyway, by every replica sharing the list. Descope
// revokes the refresh token; this also stops the session JWT, which Descope
// cannot recall. It also deletes refreshes shared with other replicas that
// handed these tokens out. An error means the database did not take it yet
// (this replica refuses the tokens regardless; the list's write is
// retried, and other replicas' refreshed tokens are refused once their
// list has read the sign-out).
func (m *Manager) Revoke(ctx context.Context, sessionJWT, refreshJWT string, until time.Time) error {
	var errs []error
	for _, t := range []string{sessionJWT, refreshJWT} {
		if t == "" {
			continue
		}
		m.mu.Lock()
		delete(m.refreshed, sha256.Sum256([]byte(t)))
		m.mu.Unlock()
		if err := m.opts.SignedOut.RevokeToken(ctx, t, until); err != nil {
			errs = append(errs, err)
		}
	}
	// Other replicas must not hand these tokens out again to old cookies
	// (their block lists learn of the sign-out only at their next read).
	if m.opts.Handoff != nil {
		if err := m.opts.Handoff.Forget(ctx, sessionJWT, refreshJWT); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) isRevoked(token string) bool { return m.opts.SignedOut.TokenRevoked(token) }

// IsRevoked reports whether a token was signed out (for bearer use of a
// browser's session JWT).
func (m *Manager) IsRevoked(token string) bool { return m.isRevoked(token) }
