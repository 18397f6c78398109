package descope

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRefreshReadsSetCookie: a project that manages tokens in cookies answers
// /v1/auth/refresh with Set-Cookie instead of body fields; the client reads
// them (under the configured names), body first.
func TestRefreshReadsSetCookie(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		names       CookieNames
		body        string
		cookies     []*http.Cookie
		wantSession string
		wantRefresh string
		wantRotated bool
		wantErr     error
	}{
		{name: "body", body: `{"sessionJwt":"s1","refreshJwt":"r2"}`, wantSession: "s1", wantRefresh: "r2", wantRotated: true},
		{name: "refresh in cookie", body: `{"sessionJwt":"s1"}`,
			cookies: []*http.Cookie{{Name: "DSR", Value: "r2"}}, wantSession: "s1", wantRefresh: "r2", wantRotated: true},
		{name: "both in cookies", body: `{"sessionJwt":"","refreshJwt":""}`,
			cookies: []*http.Cookie{{Name: "DS", Value: "s1"}, {Name: "DSR", Value: "r1"}}, wantSession: "s1", wantRefresh: "r1"},
		{name: "body wins over cookie", body: `{"sessionJwt":"s-body"}`,
			cookies: []*http.Cookie{{Name: "DS", Value: "s-cookie"}}, wantSession: "s-body", wantRefresh: "r1"},
		{name: "renamed cookies", names: CookieNames{Session: "MYS", Refresh: "MYR"}, body: `{}`,
			cookies:     []*http.Cookie{{Name: "DS", Value: "wrong"}, {Name: "MYS", Value: "s1"}, {Name: "MYR", Value: "r2"}},
			wantSession: "s1", wantRefresh: "r2", wantRotated: true},
		{name: "default names ignored when renamed", names: CookieNames{Session: "MYS", Refresh: "MYR"}, body: `{}`,
			cookies: []*http.Cookie{{Name: "DS", Value: "s1"}}, wantErr: ErrUnavailable},
		{name: "a cookie being cleared is no token", body: `{"sessionJwt":"s1"}`,
			cookies: []*http.Cookie{{Name: "DSR", Value: "gone", MaxAge: -1}}, wantSession: "s1", wantRefresh: "r1"},
		{name: "no session token anywhere", body: `{}`, wantErr: ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/auth/refresh" || r.Header.Get("Authorization") != "Bearer P2cookie:r1" {
					http.Error(w, "unexpected", http.StatusBadRequest)
					return
				}
				for _, c := range tt.cookies {
					http.SetCookie(w, c)
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			c, err := New(Options{BaseURL: srv.URL, ProjectID: "P2cookie", CookieNames: tt.names})
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Refresh(context.Background(), "r1")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Refresh = %v; want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.SessionJWT != tt.wantSession || res.RefreshJWT != tt.wantRefresh || res.Rotated != tt.wantRotated {
				t.Errorf("got session %q refresh %q rotated %v; want %q %q %v", res.SessionJWT, res.RefreshJWT, res.Rotated, tt.wantSession, tt.wantRefresh, tt.wantRotated)
			}
		})
	}
}

func TestCookieNamesValidate(t *testing.T) {
	t.Parallel()
	for _, n := range []CookieNames{{}, {Session: "A", Refresh: "B"}, {Session: "my_session"}} {
		if err := n.Validate(); err != nil {
			t.Errorf("%+v: %v", n, err)
		}
	}
	for _, n := range []CookieNames{{Session: "X", Refresh: "X"}, {Session: "DSR"}, {Session: "a b"}, {Refresh: "a;b"}, {Session: "é"}} {
		if err := n.Validate(); err == nil {
			t.Errorf("%+v accepted", n)
		}
	}
	if _, err := New(Options{ProjectID: "P2x", CookieNames: CookieNames{Session: "DS", Refresh: "DS"}}); err == nil {
		t.Error("New accepted equal cookie names")
	}
}
