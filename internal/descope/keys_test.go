package descope

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestUnknownKidRefetchesOnce(t *testing.T) {
	t.Parallel()
	known := newECKey(t, "known", "ES384")
	stranger := newECKey(t, "stranger", "ES384")
	f := newFixture(t, fixtureOpts{}, known)
	if got := f.srv.fetches.Load(); got != 1 {
		t.Fatalf("fetches after load: got %d; want 1", got)
	}
	raw := stranger.sign(t, sessionClaims())
	for i := range 3 {
		_, err := f.v.Verify(t.Context(), raw, KindSession)
		if !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Verify #%d: got %v; want ErrUnknownKey", i, err)
		}
		if got := f.srv.fetches.Load(); got != 2 {
			t.Fatalf("fetches after unknown kid #%d: got %d; want exactly 2 (one forced refetch)", i, got)
		}
	}
	if got := Reason(fmt.Errorf("wrapped: %w", errors.Join(ErrUnknownKey))); got != "unknown_key" {
		t.Errorf("Reason: got %q; want unknown_key", got)
	}
}

func TestUnknownKidFindsRotatedKey(t *testing.T) {
	t.Parallel()
	old := newRSAKey(t, "old", "RS256")
	next := newECKey(t, "next", "ES384")
	f := newFixture(t, fixtureOpts{}, old)
	f.srv.setKeys(old, next)
	tok, err := f.v.Verify(t.Context(), next.sign(t, sessionClaims()), KindSession)
	if err != nil {
		t.Fatalf("Verify with rotated key: %v", err)
	}
	if tok.KeyID != "next" {
		t.Errorf("KeyID: got %q; want next", tok.KeyID)
	}
	if got := f.srv.fetches.Load(); got != 2 {
		t.Errorf("fetches: got %d; want 2", got)
	}
}

func TestRandomKidFloodIsRateLimited(t *testing.T) {
	t.Parallel()
	k := newECKey(t, "real", "ES256")
	f := newFixture(t, fixtureOpts{}, k)
	base := sessionClaims()
	tokens := make([]string, 1000)
	for i := range tokens {
		forged := *k
		forged.kid = fmt.Sprintf("kid-%d", rand.Uint64())
		tokens[i] = forged.sign(t, base)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(tokens))
	for _, raw := range tokens {
		wg.Go(func() {
			_, err := f.v.Verify(t.Context(), raw, KindSession)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Verify(random kid): got %v; want ErrUnknownKey", err)
		}
	}
	if got := f.srv.fetches.Load(); got > 3 {
		t.Errorf("JWKS fetches for 1000 random kids: got %d; want at most 3", got)
	}
	if _, err := f.v.Verify(t.Context(), k.sign(t, base), KindSession); err != nil {
		t.Errorf("Verify(real key) after flood: %v", err)
	}
}

func TestForcedRefetchAllowedAgainAfterInterval(t *testing.T) {
	t.Parallel()
	k := newECKey(t, "real", "ES256")
	var mu sync.Mutex
	now := testNow
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newFixture(t, fixtureOpts{keys: KeysOptions{ForcedInterval: 10 * time.Second, Now: clock}}, k)
	forged := *k
	forged.kid = "nope"
	raw := forged.sign(t, sessionClaims())
	for step, want := range []int64{2, 2, 3} {
		if step == 2 {
			mu.Lock()
			now = now.Add(11 * time.Second)
			mu.Unlock()
		}
		if _, err := f.v.Verify(t.Context(), raw, KindSession); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("step %d: got %v; want ErrUnknownKey", step, err)
		}
		if got := f.srv.fetches.Load(); got != want {
			t.Errorf("step %d: fetches got %d; want %d", step, got, want)
		}
	}
}

func TestRunRefreshesOnTimer(t *testing.T) {
	t.Parallel()
	old := newECKey(t, "old", "ES384")
	next := newECKey(t, "next", "ES384")
	f := newFixture(t, fixtureOpts{noLoad: true, keys: KeysOptions{RefreshInterval: 20 * time.Millisecond}}, old)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.keys.Run(ctx) }()

	waitFor(t, "initial load", func() bool { return f.keys.Ready() })
	if f.keys.cached("old") == nil {
		t.Fatal("old key not loaded")
	}
	f.srv.setKeys(next)
	// Poll the cache directly so no forced refetch can be what found it.
	waitFor(t, "rotated key", func() bool { return f.keys.cached("next") != nil })
	if f.keys.cached("old") != nil {
		t.Error("old key still cached after it was unpublished")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: got %v; want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
}

func TestRunRetriesUntilLoaded(t *testing.T) {
	t.Parallel()
	k := newECKey(t, "k", "ES256")
	f := newFixture(t, fixtureOpts{noLoad: true, keys: KeysOptions{RefreshInterval: 30 * time.Millisecond}}, k)
	f.srv.setStatus(http.StatusServiceUnavailable)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = f.keys.Run(ctx) }()
	waitFor(t, "a failed fetch", func() bool { return f.srv.fetches.Load() >= 1 })
	if f.keys.Ready() {
		t.Fatal("Ready after a failed fetch")
	}
	f.srv.setStatus(0)
	waitFor(t, "keys after recovery", func() bool { return f.keys.Ready() })
}

func TestKeysUnavailable(t *testing.T) {
	t.Parallel()
	k := newECKey(t, "k", "ES256")
	f := newFixture(t, fixtureOpts{noLoad: true}, k)
	f.srv.setStatus(http.StatusInternalServerError)
	raw := k.sign(t, sessionClaims())
	_, err := f.v.Verify(t.Context(), raw, KindSession)
	if !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Verify without keys: got %v; want ErrKeysUnavailable and ErrUnavailable", err)
	}
	if got := Reason(err); got != "keys_unavailable" {
		t.Errorf("Reason: got %q; want keys_unavailable", got)
	}
	// Within the forced interval nothing is fetched; still unavailable.
	if _, err := f.v.Verify(t.Context(), raw, KindSession); !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("second Verify: got %v; want ErrKeysUnavailable and ErrUnavailable", err)
	}
	if got := f.srv.fetches.Load(); got != 1 {
		t.Errorf("fetches: got %d; want 1", got)
	}
	f.srv.setStatus(0)
	if err := f.keys.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(t.Context(), raw, KindSession); err != nil {
		t.Errorf("Verify after recovery: %v", err)
	}
}

func TestFailedRefreshKeepsKeys(t *testing.T) {
	t.Parallel()
	k := newECKey(t, "k", "ES256")
	f := newFixture(t, fixtureOpts{}, k)
	f.srv.setStatus(http.StatusBadGateway)
	if err := f.keys.Refresh(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Refresh: got %v; want ErrUnavailable", err)
	}
	f.srv.setStatus(0)
	f.srv.setKeys() // an empty set is refused too
	if err := f.keys.Refresh(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Refresh(empty set): got %v; want ErrUnavailable", err)
	}
	if _, err := f.v.Verify(t.Context(), k.sign(t, sessionClaims()), KindSession); err != nil {
		t.Errorf("Verify after failed refreshes: %v", err)
	}
}

func TestNewKeysValidates(t *testing.T) {
	t.Parallel()
	if _, err := NewKeys(nil, KeysOptions{}); err == nil {
		t.Error("NewKeys(nil): got nil error")
	}
	c, err := New(Options{ProjectID: testProject})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewKeys(c, KeysOptions{ForcedInterval: -1}); err == nil {
		t.Error("NewKeys(negative interval): got nil error")
	}
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
