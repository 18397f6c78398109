package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/handoff"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// fakeHandoff hands out fixed tokens, as if another replica had refreshed.
type fakeHandoff struct {
	tokens    handoff.Tokens
	mu        sync.Mutex
	forgotten []string
}

func (f *fakeHandoff) Do(context.Context, string, func(context.Context) (handoff.Tokens, error)) (handoff.Tokens, error) {
	return f.tokens, nil
}

func (f *fakeHandoff) Forget(_ context.Context, tokens ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgotten = append(f.forgotten, tokens...)
	return nil
}

// subjects is a verifier whose tokens belong to the users named.
type subjects map[string]string

func (s subjects) Verify(_ context.Context, raw string, kind descope.Kind) (*descope.Token, error) {
	sub, ok := s[raw]
	if !ok {
		return nil, errExpired
	}
	return &descope.Token{Raw: raw, Kind: kind, Subject: sub, Expiry: time.Now().Add(time.Hour)}, nil
}

// TestSharedRefreshMustBeTheSameUser: tokens from the shared store that
// belong to someone else than the refresh token's user are refused, never
// used to switch users.
func TestSharedRefreshMustBeTheSameUser(t *testing.T) {
	v := subjects{"r1": "U2alice", "s-bob": "U2bob", "r-bob": "U2bob"}
	h := &fakeHandoff{tokens: handoff.Tokens{Session: "s-bob", Refresh: "r-bob", Until: time.Now().Add(time.Hour)}}
	m, err := NewManager(Options{Verifier: v, Refresher: &rotatingRefresher{}, Handoff: h})
	if err != nil {
		t.Fatal(err)
	}
	s, w, err := authenticate(t, m, "s-expired", "r1")
	if !errors.Is(err, ErrEnded) || s != nil {
		t.Fatalf("session %+v, err %v; want ErrEnded", s, err)
	}
	if !cleared(w) {
		t.Error("cookies not cleared")
	}
}

// TestSignOutForgetsSharedRefreshes: sign-out tells the shared store to
// drop the results that handed out the signed-out tokens.
func TestSignOutForgetsSharedRefreshes(t *testing.T) {
	h := &fakeHandoff{}
	m, err := NewManager(Options{Verifier: fakeVerifier{}, Refresher: &rotatingRefresher{}, Handoff: h})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(context.Background(), "s2", "r2", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if len(h.forgotten) != 2 || h.forgotten[0] != "s2" || h.forgotten[1] != "r2" {
		t.Errorf("forgotten %v, want [s2 r2]", h.forgotten)
	}
}

// TestTwoManagersShareARotatingRefresh: two session managers (two
// replicas) on one PostgreSQL receive the same expired session at once;
// Descope, which rotates refresh tokens, is asked once and both write the
// same new cookies.
func TestTwoManagersShareARotatingRefresh(t *testing.T) {
	dsn := testenv.RequirePostgres(t)
	schema := testenv.FreshSchema(t, dsn, "session_test_")
	v := fakeVerifier{"s1": errExpired, "r1": nil, "s2": nil, "r2": nil}
	ref := &rotatingRefresher{}
	var managers []*Manager
	for range 2 {
		h, err := handoff.New(context.Background(), handoff.Options{DB: testenv.OpenSchema(t, dsn, schema),
			Secret: []byte("session-test-secret-0123456789abcdef")})
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewManager(Options{Verifier: v, Refresher: ref, Handoff: h})
		if err != nil {
			t.Fatal(err)
		}
		managers = append(managers, m)
	}
	var wg sync.WaitGroup
	sessions := make([]*Session, 2)
	errs := make([]error, 2)
	for i, m := range managers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sessions[i], _, errs[i] = authenticate(t, m, "s1", "r1")
		}()
	}
	wg.Wait()
	for i := range managers {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if sessions[i].Token.Raw != "s2" || sessions[i].RefreshJWT != "r2" {
			t.Errorf("replica %d: session %s refresh %s, want s2 r2", i, sessions[i].Token.Raw, sessions[i].RefreshJWT)
		}
	}
	if n := ref.calls.Load(); n != 1 {
		t.Errorf("Descope refreshed %d times, want 1", n)
	}
}

// slowHandoff never gets its turn: the wait runs out.
type slowHandoff struct{ fakeHandoff }

func (s *slowHandoff) Do(ctx context.Context, _ string, _ func(context.Context) (handoff.Tokens, error)) (handoff.Tokens, error) {
	return handoff.Tokens{}, fmt.Errorf("handoff: %w", context.DeadlineExceeded)
}

// TestRefreshOutOfTimeKeepsTheSession: a refresh that ran out of time
// waiting for another replica is "try again", never a sign-out.
func TestRefreshOutOfTimeKeepsTheSession(t *testing.T) {
	v := fakeVerifier{"s1": errExpired, "r1": nil}
	m, err := NewManager(Options{Verifier: v, Refresher: &rotatingRefresher{}, Handoff: &slowHandoff{}})
	if err != nil {
		t.Fatal(err)
	}
	_, w, err := authenticate(t, m, "s1", "r1")
	if !errors.Is(err, descope.ErrUnavailable) || errors.Is(err, ErrEnded) {
		t.Errorf("err = %v, want unavailable", err)
	}
	if cleared(w) {
		t.Error("the session's cookies were cleared")
	}
}
