package descope

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Defaults for KeysOptions.
const (
	DefaultKeysRefreshInterval = 10 * time.Minute
	DefaultKeysForcedInterval  = 10 * time.Second
)

// KeysOptions configures a Keys cache.
type KeysOptions struct {
	// RefreshInterval is how often Run refetches the key set
	// (default DefaultKeysRefreshInterval).
	RefreshInterval time.Duration
	// ForcedInterval is the least time between two refetches forced by an
	// unknown kid (default DefaultKeysForcedInterval). Concurrent misses
	// share one fetch; misses inside the interval fetch nothing.
	ForcedInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives fetch failures and skipped keys (default discards).
	Logger *slog.Logger
}

// Keys caches the project's public signing keys
// (GET {base}/v2/keys/{projectId}). It is safe for concurrent use.
//
// Lifecycle: the owner runs Run(ctx) in one goroutine (under its errgroup);
// Run fetches at once, retries with backoff until a fetch succeeds, then
// refreshes every RefreshInterval until ctx ends. Without Run the cache
// still works: the first lookup fetches on demand (rate-limited).
//
// A fetch replaces the whole set, so keys Descope stops publishing stop
// verifying. A failed fetch, or one with no usable key, keeps the old set.
type Keys struct {
	client       *Client
	refreshEvery time.Duration
	now          func() time.Time
	log          *slog.Logger

	set     atomic.Pointer[keySet]
	forced  *rate.Limiter
	flights singleflight.Group
}

type keySet struct {
	keys    map[string]*publicKey
	fetched time.Time
}

// Singleflight keys.
const (
	flightFetch  = "fetch"
	flightForced = "forced"
)

// errForcedLimited means a forced refetch was skipped by the rate limit.
var errForcedLimited = errors.New("descope: forced key refetch rate-limited")

// NewKeys returns an empty key cache that fetches through c.
func NewKeys(c *Client, opts KeysOptions) (*Keys, error) {
	if c == nil {
		return nil, errors.New("descope: keys: nil client")
	}
	if opts.RefreshInterval < 0 || opts.ForcedInterval < 0 {
		return nil, errors.New("descope: keys: negative interval")
	}
	k := &Keys{
		client:       c,
		refreshEvery: opts.RefreshInterval,
		now:          opts.Now,
		log:          opts.Logger,
	}
	if k.refreshEvery == 0 {
		k.refreshEvery = DefaultKeysRefreshInterval
	}
	forcedEvery := opts.ForcedInterval
	if forcedEvery == 0 {
		forcedEvery = DefaultKeysForcedInterval
	}
	k.forced = rate.NewLimiter(rate.Every(forcedEvery), 1)
	if k.now == nil {
		k.now = time.Now
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	return k, nil
}

// Ready reports whether a key set has been loaded.
func (k *Keys) Ready() bool { return k.set.Load() != nil }

// Fetched returns when the current key set was loaded (zero if none).
func (k *Keys) Fetched() time.Time {
	if s := k.set.Load(); s != nil {
		return s.fetched
	}
	return time.Time{}
}

// Run keeps the key set fresh until ctx ends, then returns nil. Call it
// once, from the goroutine that owns the cache.
func (k *Keys) Run(ctx context.Context) error {
	const minBackoff = time.Second
	backoff := minBackoff
	delay := time.Duration(0)
	for {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if err := k.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			k.log.LogAttrs(ctx, slog.LevelWarn, "descope keys refresh failed",
				slog.String("error", err.Error()), slog.Bool("ready", k.Ready()))
			delay = min(backoff, k.refreshEvery)
			backoff = min(2*backoff, k.refreshEvery)
			continue
		}
		delay, backoff = k.refreshEvery, minBackoff
	}
}

// Refresh fetches the key set now. Concurrent calls share one fetch.
// Errors match ErrUnavailable (Descope unreachable, or a key set with no
// usable key).
func (k *Keys) Refresh(ctx context.Context) error {
	return k.shared(ctx, flightFetch, func() error {
		// The fetch outlives a caller that gives up: others may share it.
		return k.fetch(context.WithoutCancel(ctx))
	})
}

// shared runs fn once for all concurrent callers of the same flight, and
// stops waiting (not the fetch) when ctx ends.
func (k *Keys) shared(ctx context.Context, flight string, fn func() error) error {
	ch := k.flights.DoChan(flight, func() (any, error) { return nil, fn() })
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return unavailable("keys", ctx.Err())
	}
}

func (k *Keys) fetch(ctx context.Context) error {
	body, err := k.client.fetchKeys(ctx)
	if err != nil {
		return err
	}
	keys, skipped, err := parseJWKS(body)
	for _, e := range skipped {
		k.log.LogAttrs(ctx, slog.LevelWarn, "descope key skipped", slog.String("error", e.Error()))
	}
	if err != nil {
		return unavailable("keys", err)
	}
	k.set.Store(&keySet{keys: keys, fetched: k.now()})
	return nil
}

// lookup returns the key for kid. On a miss it forces one refetch, shared
// by concurrent misses and allowed at most once per ForcedInterval, then
// looks again. Errors wrap ErrUnknownKey or ErrKeysUnavailable.
func (k *Keys) lookup(ctx context.Context, kid string) (*publicKey, error) {
	if pk := k.cached(kid); pk != nil {
		return pk, nil
	}
	err := k.shared(ctx, flightForced, func() error {
		if !k.forced.AllowN(k.now(), 1) {
			return errForcedLimited
		}
		return k.Refresh(context.WithoutCancel(ctx))
	})
	if pk := k.cached(kid); pk != nil {
		return pk, nil
	}
	switch {
	case !k.Ready():
		if err == nil || errors.Is(err, errForcedLimited) {
			return nil, fmt.Errorf("%w: %w: no key set loaded yet", ErrKeysUnavailable, ErrUnavailable)
		}
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	case err != nil && !errors.Is(err, errForcedLimited):
		// The refetch failed: the kid may be a rotated key we cannot
		// load right now, so this is transient, not a bad token.
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	return nil, ErrUnknownKey
}

func (k *Keys) cached(kid string) *publicKey {
	if s := k.set.Load(); s != nil {
		return s.keys[kid]
	}
	return nil
}
