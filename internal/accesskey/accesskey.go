// Package accesskey authenticates machine clients by their Descope access
// keys: it exchanges a key for a session JWT once, caches the result until
// shortly before it expires, remembers rejected keys briefly, and resolves
// the user a key acts for.
package accesskey

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/ratelimit"
)

// Descope is the part of Descope's API this package needs.
type Descope interface {
	ExchangeAccessKey(ctx context.Context, key string, opts *descope.AccessKeyLoginOptions) (*descope.Exchange, error)
	AccessKey(ctx context.Context, id string) (*descope.AccessKey, error)
	UserByID(ctx context.Context, userID string) (*descope.User, error)
	HasManagementKey() bool
}

// Verifier checks the exchanged JWT like any other Descope token.
type Verifier interface {
	Verify(ctx context.Context, raw string, kind descope.Kind) (*descope.Token, error)
}

// Errors returned by Authenticate, besides descope.ErrUnavailable.
var (
	// ErrRejected wraps descope.ErrRejected: the key is unknown, revoked,
	// inactive, expired, or not allowed from this address.
	ErrRejected = fmt.Errorf("accesskey: %w", descope.ErrRejected)
)

// ErrRateLimited: too many exchanges of unknown keys from one client
// address; Descope was not asked. RetryAfter(err) says when to try again.
var ErrRateLimited = errors.New("accesskey: too many exchanges")

type rateLimited struct{ retryAfter time.Duration }

func (e *rateLimited) Error() string        { return ErrRateLimited.Error() }
func (e *rateLimited) Is(target error) bool { return target == ErrRateLimited }

// RetryAfter returns how long a rate-limited caller should wait.
func RetryAfter(err error) time.Duration {
	var rl *rateLimited
	if errors.As(err, &rl) {
		return rl.retryAfter
	}
	return 0
}

// Identity is who an access key acts as.
type Identity struct {
	Token  *descope.Token // the exchanged JWT; its Subject is the key ID or the bound user's ID
	KeyID  string
	UserID string // the bound user, or "" for a standalone key
	// Username is the key's own MLflow username (access-key-<id>), or ""
	// when the key acts as its bound user: then the user's own MLflow
	// username applies (the gateway keeps it, internal/naming).
	Username string
	LoginID  string
	Email    string
	Name     string
}

// Options configures an Authenticator.
type Options struct {
	Descope  Descope
	Verifier Verifier
	// RenewBefore: an exchanged token is used until this long before it
	// expires, then the key is exchanged again (default 30s).
	RenewBefore time.Duration
	// RejectFor: how long a rejected key is answered from memory without
	// asking Descope again (default 1m).
	RejectFor time.Duration
	// KeyInfoTTL: how long the management API's view of a key (owner,
	// status, permitted IPs) is cached (default 5m).
	KeyInfoTTL time.Duration
	// MaxEntries bounds each cache (default 10000).
	MaxEntries int
	// SameAsUser decides whether a key bound to a user may act under the
	// user's own MLflow username: only when the key's token grants the same
	// MLflow permissions as the user's own roles. Otherwise the key gets its
	// own username (Username), so neither ever changes the other's MLflow
	// permissions. nil: a bound key always acts as its user.
	SameAsUser func(keyToken *descope.Token, user *descope.User) bool
	// AllowExchange, if set, is asked before a key that is in neither cache
	// is sent to Descope; it rate-limits exchanges per client address.
	AllowExchange func(clientIP netip.Addr) (bool, time.Duration)
	// Events, if set, receives an event.KeyExchange after every exchange
	// of a key at Descope (not for answers from the cache), with the key's
	// ID ("" when the exchange failed before Descope named it) and the
	// error, if any.
	Events event.Sink
	Logger *slog.Logger
	Now    func() time.Time
}

// CacheStats counts Authenticate calls by whether the cache answered.
type CacheStats struct {
	Hits   uint64 // answered from memory (a valid or a recently rejected key)
	Misses uint64 // the key had to be exchanged at Descope
}

// Authenticator turns access keys into identities.
type Authenticator struct {
	opts    Options
	flights singleflight.Group
	valid   *cache[Identity]
	invalid *cache[error]
	info    *cache[*descope.AccessKey]

	hits, misses atomic.Uint64
}

// New returns an Authenticator.
func New(opts Options) (*Authenticator, error) {
	if opts.Descope == nil || opts.Verifier == nil {
		return nil, errors.New("accesskey: descope client and verifier are required")
	}
	if opts.RenewBefore <= 0 {
		opts.RenewBefore = 30 * time.Second
	}
	if opts.RejectFor <= 0 {
		opts.RejectFor = time.Minute
	}
	if opts.KeyInfoTTL <= 0 {
		opts.KeyInfoTTL = 5 * time.Minute
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Authenticator{
		opts:    opts,
		valid:   newCache[Identity](opts.MaxEntries),
		invalid: newCache[error](opts.MaxEntries),
		info:    newCache[*descope.AccessKey](opts.MaxEntries),
	}, nil
}

// Username is the MLflow username of a standalone key (one bound to no user).
func Username(keyID string) string { return "access-key-" + keyID }

// Authenticate returns the identity an access key acts as. Concurrent calls
// with the same key share one exchange. Errors wrap ErrRejected (answer 401)
// or descope.ErrUnavailable (answer 503; the key may be fine).
func (a *Authenticator) Authenticate(ctx context.Context, key string, clientIP netip.Addr) (*Identity, error) {
	h := sha256.Sum256([]byte(key))
	hk := string(h[:])
	now := a.opts.Now()
	if err, ok := a.invalid.get(hk, now); ok {
		a.hits.Add(1)
		return nil, err
	}
	if id, ok := a.valid.get(hk, now); ok {
		a.hits.Add(1)
		if err := a.checkInfo(ctx, id.KeyID, clientIP); err != nil {
			return nil, err
		}
		return &id, nil
	}
	a.misses.Add(1)
	v, err, _ := a.flights.Do(hk, func() (any, error) {
		if id, ok := a.valid.get(hk, a.opts.Now()); ok {
			return id, nil
		}
		// Charged once per real exchange: requests that join this flight
		// share its answer and cost Descope nothing.
		if a.opts.AllowExchange != nil {
			if ok, wait := a.opts.AllowExchange(clientIP); !ok {
				return nil, &rateLimited{retryAfter: wait}
			}
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		id, err := a.exchange(fctx, key)
		event.Send(a.opts.Events, event.KeyExchange{KeyID: id.KeyID, Err: err})
		if err != nil {
			if errors.Is(err, ErrRejected) {
				now := a.opts.Now()
				a.invalid.put(hk, err, now.Add(a.opts.RejectFor), now)
			}
			return nil, err
		}
		a.valid.put(hk, id, id.Token.Expiry.Add(-a.opts.RenewBefore), a.opts.Now())
		return id, nil
	})
	if err != nil {
		return nil, err
	}
	id := v.(Identity)
	if err := a.checkInfo(ctx, id.KeyID, clientIP); err != nil {
		return nil, err
	}
	return &id, nil
}

func (a *Authenticator) exchange(ctx context.Context, key string) (Identity, error) {
	ex, err := a.opts.Descope.ExchangeAccessKey(ctx, key, nil)
	if err != nil {
		if errors.Is(err, descope.ErrRejected) {
			return Identity{}, fmt.Errorf("%w: exchange: %w", ErrRejected, err)
		}
		return Identity{}, fmt.Errorf("accesskey: exchange: %w", err)
	}
	tok, err := a.opts.Verifier.Verify(ctx, ex.SessionJWT, descope.KindAccessKey)
	if errors.Is(err, descope.ErrUnknownKey) {
		// Descope just signed it: our copy of its keys is stale (a refetch
		// may be rate-limited). Not the key's fault: do not remember it as
		// rejected.
		err = fmt.Errorf("%w: %w", descope.ErrKeysUnavailable, err)
	}
	if err != nil {
		if errors.Is(err, descope.ErrKeysUnavailable) {
			return Identity{}, fmt.Errorf("accesskey: verify: %w", err)
		}
		return Identity{}, fmt.Errorf("%w: exchanged token: %w", ErrRejected, err)
	}
	// Descope does not document whether the token's sub is the key ID or,
	// for a key bound to a user, the user's ID. The key ID is the exchange
	// answer's keyId (the sub when the answer has none); a sub that differs
	// must be the user the key's record says it is bound to. Without a
	// management key the binding cannot be checked: the key then acts as
	// itself, never as the user its token names.
	keyID := ex.KeyID
	if keyID == "" {
		keyID = tok.Subject
	}
	id := Identity{Token: tok, KeyID: keyID, Username: Username(keyID)}
	if a.opts.Descope.HasManagementKey() {
		info, err := a.keyInfo(ctx, id.KeyID)
		if err != nil {
			return Identity{}, err
		}
		if tok.Subject != keyID && (info.BoundUserID == "" || tok.Subject != info.BoundUserID) {
			return Identity{}, fmt.Errorf("%w: the exchanged token names %q, neither key %q nor the user it is bound to", ErrRejected, tok.Subject, keyID)
		}
		if info.BoundUserID != "" {
			id.UserID = info.BoundUserID
			if u, err := a.opts.Descope.UserByID(ctx, info.BoundUserID); err == nil {
				id.Email, id.Name = u.Email, u.Name
				if len(u.LoginIDs) > 0 {
					id.LoginID = u.LoginIDs[0]
				}
				if u.Status != "" && u.Status != "enabled" {
					return Identity{}, fmt.Errorf("%w: the key's user is %s", ErrRejected, u.Status)
				}
				if a.opts.SameAsUser == nil || a.opts.SameAsUser(tok, u) {
					id.Username = ""
				}
			} else if !errors.Is(err, descope.ErrRejected) {
				return Identity{}, fmt.Errorf("accesskey: load key owner: %w", err)
			} else {
				return Identity{}, fmt.Errorf("%w: the key's user no longer exists", ErrRejected)
			}
		}
	}
	return id, nil
}

// keyInfo loads a key's management record, cached.
func (a *Authenticator) keyInfo(ctx context.Context, keyID string) (*descope.AccessKey, error) {
	now := a.opts.Now()
	if k, ok := a.info.get(keyID, now); ok {
		return k, nil
	}
	// One load per key however many requests find the record expired at
	// once (a CI job's parallel uploads), detached from any one caller.
	v, err, _ := a.flights.Do("info:"+keyID, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		k, err := a.opts.Descope.AccessKey(fctx, keyID)
		if err != nil {
			if errors.Is(err, descope.ErrRejected) {
				return nil, fmt.Errorf("%w: key record: %w", ErrRejected, err)
			}
			return nil, fmt.Errorf("accesskey: key record: %w", err)
		}
		a.info.put(keyID, k, now.Add(a.opts.KeyInfoTTL), now)
		return k, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*descope.AccessKey), nil
}

// checkInfo applies what only the management record says: a key deactivated
// or expired since its token was issued stops working within KeyInfoTTL, and
// a key restricted to some addresses is enforced here, since Descope only
// ever sees the gateway's address.
func (a *Authenticator) checkInfo(ctx context.Context, keyID string, clientIP netip.Addr) error {
	if !a.opts.Descope.HasManagementKey() {
		return nil
	}
	info, err := a.keyInfo(ctx, keyID)
	if err != nil {
		return err
	}
	if !info.Active(a.opts.Now()) {
		return fmt.Errorf("%w: key is %s or expired", ErrRejected, info.Status)
	}
	if len(info.PermittedIPs) > 0 && !permitted(info.PermittedIPs, clientIP) {
		return fmt.Errorf("%w: key not permitted from %s", ErrRejected, clientIP)
	}
	return nil
}

func permitted(list []string, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil && p.Contains(ip) {
			return true
		}
		if a, err := netip.ParseAddr(s); err == nil && a.Unmap() == ip {
			return true
		}
	}
	return false
}

// CacheStats reports how often Authenticate was answered from memory.
func (a *Authenticator) CacheStats() CacheStats {
	return CacheStats{Hits: a.hits.Load(), Misses: a.misses.Load()}
}

// Cached reports whether key was exchanged and accepted before and its token
// is still being reused: no Descope call would be needed.
func (a *Authenticator) Cached(key string) bool {
	h := sha256.Sum256([]byte(key))
	_, ok := a.valid.get(string(h[:]), a.opts.Now())
	return ok
}

// Forget drops every cached answer (after a key is revoked, say).
func (a *Authenticator) Forget() {
	a.valid.clear()
	a.invalid.clear()
	a.info.clear()
}

// Evict drops what this authenticator remembers of one key (its exchanged
// token and its management record), so that the key's next use asks
// Descope again: a key just deleted there is refused at once instead of
// when its token or record would have expired. Requests already past the
// check are not affected.
func (a *Authenticator) Evict(keyID string) {
	if keyID == "" {
		return
	}
	a.valid.deleteFunc(func(_ string, id Identity) bool { return id.KeyID == keyID })
	a.info.deleteFunc(func(k string, _ *descope.AccessKey) bool { return k == keyID })
}

// cache is a bounded map with per-entry expiry.
type cache[V any] struct {
	mu  sync.Mutex
	max int
	m   map[string]entry[V]
}

type entry[V any] struct {
	v   V
	exp time.Time
}

func newCache[V any](max int) *cache[V] { return &cache[V]{max: max, m: map[string]entry[V]{}} }

func (c *cache[V]) get(k string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !now.Before(e.exp) {
		delete(c.m, k)
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *cache[V]) put(k string, v V, exp, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for key, e := range c.m {
			if !now.Before(e.exp) {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = entry[V]{v: v, exp: exp}
}

// deleteFunc removes every entry for which del returns true.
func (c *cache[V]) deleteFunc(del func(k string, v V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if del(k, e.v) {
			delete(c.m, k)
		}
	}
}

func (c *cache[V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

// DefaultExchangeLimits bounds exchanges of keys the gateway has not seen:
// 20 per client address then one every 3 s, and 200 overall then 50 a second,
// since every exchange comes from the gateway's own address and counts against
// the project's Descope rate limit. now may be nil.
func DefaultExchangeLimits(now func() time.Time) func(netip.Addr) (bool, time.Duration) {
	perIP := ratelimit.New(20, 3*time.Second, 100000, now)
	global := ratelimit.New(200, 20*time.Millisecond, 1, now)
	return func(ip netip.Addr) (bool, time.Duration) {
		if ok, wait := perIP.Allow(ip.String()); !ok {
			return false, wait
		}
		return global.Allow("")
	}
}
