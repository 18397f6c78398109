package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/dpop"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/testenv"
)

// dpopKey is a client's DPoP key pair.
type dpopKey struct {
	priv *ecdsa.PrivateKey
	jwk  map[string]any
}

func newDPoPKey(t *testing.T) *dpopKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := k.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return &dpopKey{priv: k, jwk: map[string]any{"kty": "EC", "crv": "P-256", "x": enc(pt[1:33]), "y": enc(pt[33:])}}
}

func (k *dpopKey) jkt(t *testing.T) string {
	t.Helper()
	raw, _ := json.Marshal(k.jwk)
	j, err := dpop.Thumbprint(raw)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (k *dpopKey) proof(t *testing.T, method, htu, token, jti string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"jti": jti, "htm": method, "htu": htu, "iat": time.Now().Unix(),
		"ath": base64.RawURLEncoding.EncodeToString(sum[:]),
	})
	tok.Header["typ"] = "dpop+jwt"
	tok.Header["jwk"] = k.jwk
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDPoPBoundTokens: a token with cnf.jkt is only accepted with the DPoP
// scheme and a fresh proof from its key for this request; every other way
// of presenting it is a 401 that says why. Each case fails if the check
// behind it is removed.
func TestDPoPBoundTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.user(t, "U2dpop")
	key, thief := newDPoPKey(t), newDPoPKey(t)
	bound, refresh := h.mint(t, "U2dpop", descopesim.MintOptions{ExtraClaims: map[string]any{"cnf": map[string]any{"jkt": key.jkt(t)}}})
	plain, _ := h.mint(t, "U2dpop", descopesim.MintOptions{})
	target := h.gw.URL + "/api/2.0/mlflow/experiments/search"
	reused := key.proof(t, "GET", target, bound, "reused")
	tests := []struct {
		name   string
		auth   string
		proofs []string
		status int
		reason string // in the message
	}{
		{name: "valid proof", auth: "DPoP " + bound, proofs: []string{key.proof(t, "GET", target, bound, "j1")}, status: 200},
		{name: "query ignored", auth: "DPoP " + bound, proofs: []string{key.proof(t, "GET", target+"?max_results=1", bound, "j2")}, status: 200},
		{name: "as a bearer token", auth: "Bearer " + bound, proofs: []string{key.proof(t, "GET", target, bound, "j3")}, status: 401, reason: "DPoP-bound"},
		{name: "as basic password", auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+bound)), status: 401, reason: "DPoP-bound"},
		{name: "no proof", auth: "DPoP " + bound, status: 401, reason: "DPoP proof"},
		{name: "two proofs", auth: "DPoP " + bound, proofs: []string{key.proof(t, "GET", target, bound, "j4"), key.proof(t, "GET", target, bound, "j5")}, status: 401, reason: "DPoP proof"},
		{name: "proof by another key", auth: "DPoP " + bound, proofs: []string{thief.proof(t, "GET", target, bound, "j6")}, status: 401, reason: "not accepted"},
		{name: "proof for another method", auth: "DPoP " + bound, proofs: []string{key.proof(t, "POST", target, bound, "j7")}, status: 401, reason: "not accepted"},
		{name: "proof for another URL", auth: "DPoP " + bound, proofs: []string{key.proof(t, "GET", h.gw.URL+"/api/2.0/mlflow/runs/search", bound, "j8")}, status: 401, reason: "not accepted"},
		{name: "proof for another token", auth: "DPoP " + bound, proofs: []string{key.proof(t, "GET", target, plain, "j9")}, status: 401, reason: "not accepted"},
		{name: "first use of a proof", auth: "DPoP " + bound, proofs: []string{reused}, status: 200},
		{name: "replayed proof", auth: "DPoP " + bound, proofs: []string{reused}, status: 401, reason: "not accepted"},
		{name: "DPoP scheme with an unbound token", auth: "DPoP " + plain, proofs: []string{key.proof(t, "GET", target, plain, "j10")}, status: 401, reason: "DPoP-bound token"},
		{name: "unbound bearer token unaffected", auth: "Bearer " + plain, status: 200},
	}
	for _, tt := range tests { // in order: the replay case follows the first use
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, target+"?max_results=1", nil)
			req.Header.Set("Authorization", tt.auth)
			for _, p := range tt.proofs {
				req.Header.Add("DPoP", p)
			}
			resp, body := send(t, http.DefaultClient, req)
			if resp.StatusCode != tt.status || (tt.reason != "" && !strings.Contains(body, tt.reason)) {
				t.Fatalf("%d %s; want %d mentioning %q", resp.StatusCode, body, tt.status, tt.reason)
			}
		})
	}
	// A browser cannot prove possession: such a session is refused at sign-in.
	resp := h.signIn(t, browser(t), bound, refresh)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("cookie sign-in with a DPoP-bound session: %d; want 401", resp.StatusCode)
	}
}

// TestDPoPReplicasOnPostgres: with the gateway database on PostgreSQL a proof
// another replica accepted is refused as a replay, and when the shared
// replay cache cannot be asked the request is a 503 in MLflow's error shape
// (retry with a new proof), never an accepted proof that might be a replay.
func TestDPoPReplicasOnPostgres(t *testing.T) {
	t.Parallel()
	dsn := testenv.FreshDatabase(t, testenv.RequirePostgres(t), "dpop_gw_")
	h := newHarness(t, harnessOpts{env: []string{"MLFLOW_DESCOPE_AUDIT_DB=" + dsn}})
	h.user(t, "U2dpoppg")
	key := newDPoPKey(t)
	bound, _ := h.mint(t, "U2dpoppg", descopesim.MintOptions{ExtraClaims: map[string]any{"cnf": map[string]any{"jkt": key.jkt(t)}}})
	target := h.gw.URL + "/api/2.0/mlflow/experiments/search"
	call := func(proof string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, target+"?max_results=1", nil)
		req.Header.Set("Authorization", "DPoP "+bound)
		req.Header.Set("DPoP", proof)
		return send(t, http.DefaultClient, req)
	}
	if resp, body := call(key.proof(t, "GET", target, bound, "pg1")); resp.StatusCode != 200 {
		t.Fatalf("fresh proof: %d %s", resp.StatusCode, body)
	}

	// Another replica on the same database accepts a proof first.
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	shared, err := dpop.NewShared(t.Context(), db, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	other := dpop.New(dpop.Options{Shared: shared})
	seen := key.proof(t, "GET", target, bound, "pg2")
	if err := other.Check(t.Context(), seen, dpop.Request{Method: "GET", URL: target, AccessToken: bound, JKT: key.jkt(t)}); err != nil {
		t.Fatalf("the other replica: %v", err)
	}
	if resp, body := call(seen); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not accepted") {
		t.Fatalf("a proof another replica accepted: %d %s; want 401", resp.StatusCode, body)
	}

	// The shared cache fails: refused as unavailable.
	if _, err := db.ExecContext(t.Context(), `DROP TABLE mda_dpop_proofs`); err != nil {
		t.Fatal(err)
	}
	resp, body := call(key.proof(t, "GET", target, bound, "pg3"))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"error_code":"TEMPORARILY_UNAVAILABLE"`) ||
		!strings.Contains(body, "retry with a new proof") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("shared cache down: %d %s (Retry-After %q); want 503 TEMPORARILY_UNAVAILABLE", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
}
