package accesskey_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// newKeyEnv starts a simulator whose exchanged tokens name the key or the
// bound user in sub, and an authenticator with or without a management key.
func newKeyEnv(t *testing.T, subject string, withMgmt bool) (*descopesim.Server, *accesskey.Authenticator) {
	t.Helper()
	sim, err := descopesim.New(descopesim.Options{ProjectID: "P2AccessKeySubject0000001", AccessKeySubject: subject})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	o := descope.Options{BaseURL: sim.URL(), ProjectID: sim.ProjectID()}
	if withMgmt {
		o.ManagementKey = descope.Secret(sim.ManagementKey())
	}
	dc, err := descope.New(o)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := descope.NewKeys(dc, descope.KeysOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	verifier, err := descope.NewVerifier(keys, descope.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := accesskey.New(accesskey.Options{Descope: dc, Verifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []descopesim.User{
		{ID: "U2owner", LoginIDs: []string{"owner@example.com"}, Email: "owner@example.com"},
		{ID: "U2other", LoginIDs: []string{"other@example.com"}, Roles: []string{"admin"}},
	} {
		if err := sim.CreateUser(u); err != nil {
			t.Fatal(err)
		}
	}
	return sim, a
}

// TestBoundKeySubjectShapes: whether the exchanged JWT's sub is the key ID or
// the bound user's ID, the key is recognised by the exchange answer's keyId
// and acts for the user of its record.
func TestBoundKeySubjectShapes(t *testing.T) {
	t.Parallel()
	ip := netip.MustParseAddr("127.0.0.1")
	for _, subject := range []string{descopesim.SubjectKeyID, descopesim.SubjectBoundUser} {
		t.Run("sub="+subject, func(t *testing.T) {
			t.Parallel()
			sim, a := newKeyEnv(t, subject, true)
			keyID, secret, err := sim.CreateAccessKey(descopesim.AccessKeyOptions{BoundUserID: "U2owner", Roles: []string{"ci"}})
			if err != nil {
				t.Fatal(err)
			}
			id, err := a.Authenticate(context.Background(), secret, ip)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			wantSub := keyID
			if subject == descopesim.SubjectBoundUser {
				wantSub = "U2owner"
			}
			if id.Token.Subject != wantSub {
				t.Fatalf("token sub = %q; want %q (the simulator's shape)", id.Token.Subject, wantSub)
			}
			if id.KeyID != keyID || id.UserID != "U2owner" || id.Email != "owner@example.com" {
				t.Errorf("identity key %q user %q email %q; want %q, U2owner, owner@example.com", id.KeyID, id.UserID, id.Email, keyID)
			}
			// A standalone key keeps its own sub in either mode.
			lone, loneSecret, err := sim.CreateAccessKey(descopesim.AccessKeyOptions{Roles: []string{"ci"}})
			if err != nil {
				t.Fatal(err)
			}
			id, err = a.Authenticate(context.Background(), loneSecret, ip)
			if err != nil || id.KeyID != lone || id.UserID != "" || id.Username != accesskey.Username(lone) {
				t.Errorf("standalone key: %+v, %v", id, err)
			}
		})
	}
}

// TestKeyTokenNamingSomeoneElse: an exchanged token whose sub is a user the
// key is not bound to is refused; without a management key (nothing to check
// the binding against) the key acts as itself, never as the user its token
// names.
func TestKeyTokenNamingSomeoneElse(t *testing.T) {
	t.Parallel()
	ip := netip.MustParseAddr("127.0.0.1")
	for _, withMgmt := range []bool{true, false} {
		name := "management key"
		if !withMgmt {
			name = "no management key"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sim, a := newKeyEnv(t, descopesim.SubjectKeyID, withMgmt)
			keyID, secret, err := sim.CreateAccessKey(descopesim.AccessKeyOptions{BoundUserID: "U2owner", Roles: []string{"ci"}})
			if err != nil {
				t.Fatal(err)
			}
			// The exchange answers for this key with a genuine session JWT
			// of another user (an admin).
			other, _, err := sim.MintSession("U2other", descopesim.MintOptions{})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(map[string]any{"keyId": keyID, "sessionJwt": other, "expiration": 0})
			if err := sim.InjectFault(descopesim.Fault{PathPrefix: "/v1/auth/accesskey/exchange", Status: 200, Body: string(body), Times: 1}); err != nil {
				t.Fatal(err)
			}
			id, err := a.Authenticate(context.Background(), secret, ip)
			if withMgmt {
				if !errors.Is(err, accesskey.ErrRejected) {
					t.Fatalf("Authenticate = %+v, %v; want ErrRejected", id, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if id.KeyID != keyID || id.UserID != "" || id.Username != accesskey.Username(keyID) {
				t.Errorf("identity %+v; want the key alone, not U2other", id)
			}
		})
	}
}
