package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/dpop"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// TestDPoPReplayCacheFollowsTheDatabase: replicas on one PostgreSQL gateway
// database refuse each other's DPoP proofs; with SQLite (one process) the
// checker's memory refuses a replay.
func TestDPoPReplayCacheFollowsTheDatabase(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := key.PublicKey.Bytes()
	enc := base64.RawURLEncoding.EncodeToString
	jwk := map[string]any{"kty": "EC", "crv": "P-256", "x": enc(pt[1:33]), "y": enc(pt[33:])}
	raw, _ := json.Marshal(jwk)
	jkt, err := dpop.Thumbprint(raw)
	if err != nil {
		t.Fatal(err)
	}
	const token, url = "session-jwt", "https://mlflow.example.com/api/2.0/mlflow/experiments/search"
	sum := sha256.Sum256([]byte(token))
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"jti": "j1", "htm": "GET", "htu": url, "iat": time.Now().Unix(), "ath": enc(sum[:])})
	tok.Header["typ"] = "dpop+jwt"
	tok.Header["jwk"] = jwk
	proof, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	req := dpop.Request{Method: "GET", URL: url, AccessToken: token, JKT: jkt}

	replica := func(t *testing.T, uri string, opts audit.Options) *dpop.Checker {
		store, err := audit.Open(t.Context(), uri, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		c, err := openDPoP(t.Context(), store)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("postgres", func(t *testing.T) {
		dsn := testenv.RequirePostgres(t)
		schema := testenv.FreshSchema(t, dsn, "dpop_app_")
		a := replica(t, dsn, audit.Options{Schema: schema})
		b := replica(t, dsn, audit.Options{Schema: schema})
		if err := a.Check(t.Context(), proof, req); err != nil {
			t.Fatalf("replica A: %v", err)
		}
		if err := b.Check(t.Context(), proof, req); !errors.Is(err, dpop.ErrReplayed) {
			t.Fatalf("replica B with A's proof = %v; want ErrReplayed", err)
		}
	})
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gateway.db")
		a := replica(t, path, audit.Options{})
		if err := a.Check(t.Context(), proof, req); err != nil {
			t.Fatalf("first: %v", err)
		}
		if err := a.Check(t.Context(), proof, req); !errors.Is(err, dpop.ErrReplayed) {
			t.Fatalf("replay = %v; want ErrReplayed", err)
		}
	})
}
