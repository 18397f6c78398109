package descope

import (
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestDRNFollowsCookieNames: a flow that renames Descope's cookies renames
// the tokens' drn too (Descope's Go SDK compares drn with its configured
// cookie names). With names configured, exactly those pass; the other kind's
// name never does.
func TestDRNFollowsCookieNames(t *testing.T) {
	t.Parallel()
	k := newECKey(t, "k1", "ES384")
	f := newFixture(t, fixtureOpts{verifier: VerifierOptions{CookieNames: CookieNames{Session: "MYS", Refresh: "MYR"}}}, k)
	def := newFixture(t, fixtureOpts{}, k)
	tok := func(drn string) string {
		c := sessionClaims()
		c["drn"] = drn
		return k.sign(t, jwt.MapClaims(c))
	}
	tests := []struct {
		name string
		v    *Verifier
		drn  string
		kind Kind
		want error
	}{
		{"renamed session", f.v, "MYS", KindSession, nil},
		{"renamed refresh", f.v, "MYR", KindRefresh, nil},
		{"default name refused when renamed", f.v, "DS", KindSession, ErrTokenKind},
		{"refresh name as session", f.v, "MYR", KindSession, ErrTokenKind},
		{"session name as refresh", f.v, "MYS", KindRefresh, ErrTokenKind},
		{"renamed refresh as access key", f.v, "MYR", KindAccessKey, ErrTokenKind},
		{"default refresh as access key", f.v, "DSR", KindAccessKey, ErrTokenKind},
		{"defaults", def.v, "DS", KindSession, nil},
		{"custom name with default settings", def.v, "MYS", KindSession, ErrTokenKind},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.v.Verify(t.Context(), tok(tt.drn), tt.kind)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Verify(drn %q as %s) = %v; want %v", tt.drn, tt.kind, err, tt.want)
			}
		})
	}
}

// TestConfirmationClaim: cnf.jkt is read; another cnf shape is malformed.
func TestConfirmationClaim(t *testing.T) {
	t.Parallel()
	k := newECKey(t, "k1", "ES384")
	f := newFixture(t, fixtureOpts{}, k)
	tests := []struct {
		name    string
		cnf     any
		wantJKT string
		wantErr error
	}{
		{"bound", map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", nil},
		{"certificate-bound", map[string]any{"x5t#S256": "abc"}, "", ErrMalformed},
		{"not an object", "jkt", "", ErrMalformed},
		{"empty jkt", map[string]any{"jkt": ""}, "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := sessionClaims()
			c["cnf"] = tt.cnf
			tok, err := f.v.Verify(t.Context(), k.sign(t, c), KindSession)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify = %v; want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || tok.JKT != tt.wantJKT {
				t.Fatalf("JKT = %q, %v; want %q", tok.JKT, err, tt.wantJKT)
			}
		})
	}
}
