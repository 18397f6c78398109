package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
)

// fakeVerifier answers from a table of raw token → result.
type fakeVerifier map[string]error

func (f fakeVerifier) Verify(_ context.Context, raw string, kind descope.Kind) (*descope.Token, error) {
	err, ok := f[raw]
	if !ok {
		return nil, fmt.Errorf("unknown test token %q", raw)
	}
	if err != nil {
		return nil, err
	}
	return &descope.Token{Raw: raw, Kind: kind, Subject: "U2alice", Expiry: time.Now().Add(time.Hour)}, nil
}

// rotatingRefresher hands out s2/r2 for r1, counting calls.
type rotatingRefresher struct{ calls atomic.Int32 }

func (f *rotatingRefresher) Refresh(_ context.Context, refreshJWT string) (*descope.RefreshResult, error) {
	f.calls.Add(1)
	if refreshJWT != "r1" {
		return nil, descope.ErrRejected
	}
	return &descope.RefreshResult{SessionJWT: "s2", RefreshJWT: "r2", Rotated: true}, nil
}

var errExpired = errors.New("token expired")

func authenticate(t *testing.T, m *Manager, sessionJWT, refreshJWT string) (*Session, *httptest.ResponseRecorder, error) {
	t.Helper()
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: m.Cookies().SessionName(), Value: sessionJWT})
	r.AddCookie(&http.Cookie{Name: m.Cookies().RefreshName(), Value: refreshJWT})
	w := httptest.NewRecorder()
	s, err := m.Authenticate(w, r)
	return s, w, err
}

func cleared(w *httptest.ResponseRecorder) bool {
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			return true
		}
	}
	return false
}

// TestStaleKeysAfterRefreshKeepTheSession: a token Descope has just issued
// that we cannot check because our copy of its keys is stale is Descope's
// unavailability, not a bad session: the cookies stay.
func TestStaleKeysAfterRefreshKeepTheSession(t *testing.T) {
	v := fakeVerifier{"s1": errExpired, "r1": nil, "s2": descope.ErrUnknownKey}
	m, err := NewManager(Options{Verifier: v, Refresher: &rotatingRefresher{}})
	if err != nil {
		t.Fatal(err)
	}
	_, w, err := authenticate(t, m, "s1", "r1")
	if !errors.Is(err, descope.ErrKeysUnavailable) || errors.Is(err, ErrEnded) {
		t.Errorf("err = %v, want keys unavailable", err)
	}
	if cleared(w) {
		t.Error("the session's cookies were cleared")
	}
}

// TestSignedOutRefreshIsNotRevivedByOldCookies: after a rotating refresh
// and a sign-out of the new tokens, the old cookies, replayed while the
// refresh is still remembered, must not get the signed-out tokens back.
func TestSignedOutRefreshIsNotRevivedByOldCookies(t *testing.T) {
	v := fakeVerifier{"s1": errExpired, "r1": nil, "s2": nil, "r2": nil}
	ref := &rotatingRefresher{}
	m, err := NewManager(Options{Verifier: v, Refresher: ref})
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := authenticate(t, m, "s1", "r1")
	if err != nil || s.Token.Raw != "s2" {
		t.Fatalf("first refresh: %v %+v", err, s)
	}
	if err := m.Revoke(context.Background(), "s2", "r2", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s, w, err := authenticate(t, m, "s1", "r1")
	if !errors.Is(err, ErrEnded) || s != nil {
		t.Errorf("old cookies after sign-out: session %+v, err %v; want ErrEnded", s, err)
	}
	if !cleared(w) {
		t.Error("cookies not cleared")
	}
	if n := ref.calls.Load(); n != 1 {
		t.Errorf("Descope refresh called %d times, want 1 (the second answer came from memory)", n)
	}
}
