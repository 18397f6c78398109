package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// secAssertionSecret is given to the stack so the suite can forge assertions
// exactly as someone who stole the secret would.
const secAssertionSecret = "security-suite-assertion-secret-0123456789abcdef"

// TestSecurityAuthentication attacks who-you-are: tokens, access keys,
// identity headers, MLflow's private port, disabled accounts, post-login
// redirects, cross-site requests, the gateway's own /auth paths and probes.
func TestSecurityAuthentication(t *testing.T) {
	e := newSecEnv(t,
		"MLFLOW_DESCOPE_ASSERTION_SECRET="+secAssertionSecret,
		"DESCOPE_SYNC_INTERVAL=1s",
	)
	d := e.seed()
	before := e.snapshot(d)
	rename := "/api/2.0/mlflow/experiments/update"
	renameBody := func(tag string) map[string]any {
		return map[string]any{"experiment_id": d.expID, "new_name": "pwned-" + tag}
	}

	// Each family starts from freshly minted sessions of the suite's users,
	// so none depends on what an earlier one did (key_rotation invalidates
	// every session minted before it, signed_out_replay signs one out): the
	// families may run in any order, or alone with -run.
	family := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			e.remint()
			f(t)
		})
	}
	family("tokens", func(t *testing.T) { e.tokenCases(t, rename, renameBody) })
	family("access_keys", func(t *testing.T) { e.accessKeyCases(t, rename, renameBody) })
	family("identity_headers", func(t *testing.T) { e.identityHeaderCases(t, d, rename, renameBody) })
	family("mlflow_private_port", func(t *testing.T) { e.directMLflowCases(t, d) })
	family("redirects", func(t *testing.T) { e.redirectCases(t) })
	family("cross_site", func(t *testing.T) { e.crossSiteCases(t, d) })
	family("gateway_paths", func(t *testing.T) { e.gatewayPathCases(t) })
	family("signed_out_replay", func(t *testing.T) { e.signedOutCases(t, rename, renameBody) })
	family("disabled_account", func(t *testing.T) { e.disabledAccountCases(t, rename, renameBody) })
	family("key_rotation", func(t *testing.T) { e.rotationCases(t, rename, renameBody) })

	e.remint()
	e.untouched(d, before)
	family("secrets_not_logged", func(t *testing.T) { e.secretsNotLogged(t) })
}

// remint gives the suite's users new sessions under Descope's current keys,
// and remembers every token handed out so the log check covers them all.
func (e *secEnv) remint() {
	for _, u := range []*secUser{&e.alice, &e.bob, &e.root} {
		u.session, u.refresh = e.mint(u.id, descopesim.MintOptions{SessionTTL: time.Hour})
		e.issued = append(e.issued, u.session, u.refresh)
	}
}

// --- token crafting ---------------------------------------------------------

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func seg(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b64(b)
}

// jwtParts decodes a token's header and payload.
func jwtParts(t *testing.T, tok string) (header, payload map[string]any, sig string) {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("not a JWT: %s", trunc(tok, 40))
	}
	for i, dst := range []*map[string]any{&header, &payload} {
		raw, err := base64.RawURLEncoding.DecodeString(p[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, payload, p[2]
}

type jwk struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// jwks fetches the simulator's public keys, as any attacker can.
func (e *secEnv) jwks(t *testing.T) []jwk {
	t.Helper()
	res, err := http.Get(e.st.sim.URL() + "/v2/keys/" + e.st.sim.ProjectID())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct{ Keys []jwk }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Keys
}

func rsaPublicPEM(t *testing.T, k jwk) []byte {
	t.Helper()
	n, err1 := base64.RawURLEncoding.DecodeString(k.N)
	eb, err2 := base64.RawURLEncoding.DecodeString(k.E)
	if err1 != nil || err2 != nil {
		t.Fatal("bad RSA JWK")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(eb).Int64())}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func hs256(header, payload map[string]any, key []byte) string {
	signed := seg(header) + "." + seg(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signed))
	return signed + "." + b64(m.Sum(nil))
}

// attackerSigned signs claims with a fresh key the attacker owns, with the
// given extra header fields.
func attackerSigned(t *testing.T, payload map[string]any, header map[string]any) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES384, jwt.MapClaims(payload))
	for hk, hv := range header {
		tok.Header[hk] = hv
	}
	if hv, ok := header["jwk"].(string); ok && hv == "self" {
		pt, err := k.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			t.Fatal(err)
		}
		x, y := pt[1:49], pt[49:]
		tok.Header["jwk"] = map[string]any{"kty": "EC", "crv": "P-384", "x": b64(x), "y": b64(y), "kid": header["kid"]}
	}
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// --- tokens ------------------------------------------------------------------

func (e *secEnv) tokenCases(t *testing.T, target string, body func(string) map[string]any) {
	sim := e.st.sim
	pid := sim.ProjectID()
	bobHdr, bobClaims, bobSig := jwtParts(t, e.bob.session)
	keys := e.jwks(t)
	var rsaKey jwk
	for _, k := range keys {
		if k.Kty == "RSA" {
			rsaKey = k
		}
	}
	if rsaKey.Kid == "" {
		t.Fatal("no RSA key in the JWKS")
	}
	escalated := clone(bobClaims)
	escalated["roles"] = []string{"admin"}
	escalated["exp"] = time.Now().Add(time.Hour).Unix()
	now := time.Now()

	other, err := descopesim.New(descopesim.Options{ProjectID: "P2OtherProject000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	twin, err := descopesim.New(descopesim.Options{ProjectID: pid}) // same project ID, its own keys
	if err != nil {
		t.Fatal(err)
	}
	defer twin.Close()
	for _, s := range []*descopesim.Server{other, twin} {
		if err := s.CreateUser(descopesim.User{ID: e.root.id, LoginIDs: []string{"root@example.com"}, Roles: []string{"admin"}}); err != nil {
			t.Fatal(err)
		}
	}
	otherTok, _, err := other.MintSession(e.root.id, descopesim.MintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	twinTok, _, err := twin.MintSession(e.root.id, descopesim.MintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	withClaims := func(c map[string]any) string {
		s, _ := e.mint(e.bob.id, descopesim.MintOptions{ExtraClaims: c})
		return s
	}
	rsHdr := map[string]any{"alg": "HS256", "kid": rsaKey.Kid, "typ": "JWT"}
	jwkJSON, _ := json.Marshal(rsaKey)
	oversized := e.bob.session + strings.Repeat("A", 20<<10)

	tests := []struct {
		name   string
		header []hdr
		status []int
	}{
		{"alg_none", []hdr{bearer(seg(map[string]any{"alg": "none", "kid": bobHdr["kid"]}) + "." + seg(escalated) + ".")}, nil},
		{"alg_none_keeping_signature", []hdr{bearer(seg(map[string]any{"alg": "none", "kid": bobHdr["kid"]}) + "." + seg(bobClaims) + "." + bobSig)}, nil},
		{"hs256_with_rsa_public_key_pem", []hdr{bearer(hs256(rsHdr, escalated, rsaPublicPEM(t, rsaKey)))}, nil},
		{"hs256_with_jwk_json", []hdr{bearer(hs256(rsHdr, escalated, jwkJSON))}, nil},
		{"alg_switched_es384_kid_rs256", []hdr{bearer(seg(map[string]any{"alg": "RS256", "kid": bobHdr["kid"]}) + "." + seg(bobClaims) + "." + bobSig)}, nil},
		{"tampered_roles_admin_original_signature", []hdr{bearer(seg(bobHdr) + "." + seg(escalated) + "." + bobSig)}, nil},
		{"tampered_sub_root_original_signature", []hdr{bearer(seg(bobHdr) + "." + seg(merge(bobClaims, map[string]any{"sub": e.root.id})) + "." + bobSig)}, nil},
		{"attacker_key_real_kid", []hdr{bearer(attackerSigned(t, escalated, map[string]any{"kid": bobHdr["kid"]}))}, nil},
		{"attacker_key_embedded_jwk", []hdr{bearer(attackerSigned(t, escalated, map[string]any{"kid": "attacker", "jwk": "self"}))}, nil},
		{"attacker_key_jku", []hdr{bearer(attackerSigned(t, escalated, map[string]any{"kid": "attacker", "jku": other.URL() + "/v2/keys/" + other.ProjectID()}))}, nil},
		{"kid_path_traversal", []hdr{bearer(attackerSigned(t, escalated, map[string]any{"kid": "../../v2/keys/" + pid}))}, nil},
		{"expired", []hdr{bearer(first(e.mint(e.root.id, descopesim.MintOptions{SessionTTL: -time.Minute})))}, nil},
		{"nbf_in_future", []hdr{bearer(withClaims(map[string]any{"nbf": now.Add(time.Hour).Unix()}))}, nil},
		{"iat_in_future", []hdr{bearer(withClaims(map[string]any{"iat": now.Add(time.Hour).Unix()}))}, nil},
		{"no_exp", []hdr{bearer(withClaims(map[string]any{"exp": nil}))}, nil},
		{"iss_other_project", []hdr{bearer(withClaims(map[string]any{"iss": sim.URL() + "/P2OtherProject000000000001"}))}, nil},
		{"iss_lookalike_suffix", []hdr{bearer(withClaims(map[string]any{"iss": sim.URL() + "/" + pid + "x"}))}, nil},
		{"iss_lookalike_prefix", []hdr{bearer(withClaims(map[string]any{"iss": "https://evil.example/x" + pid}))}, nil},
		{"iss_project_in_query", []hdr{bearer(withClaims(map[string]any{"iss": "https://evil.example/?p=/" + pid}))}, nil},
		{"iss_project_in_fragment", []hdr{bearer(withClaims(map[string]any{"iss": "https://evil.example/#/" + pid}))}, nil},
		{"iss_not_a_url", []hdr{bearer(withClaims(map[string]any{"iss": "javascript:/" + pid}))}, nil},
		{"iss_missing", []hdr{bearer(withClaims(map[string]any{"iss": nil}))}, nil},
		{"aud_other_project", []hdr{bearer(withClaims(map[string]any{"aud": "P2OtherProject000000000001"}))}, nil},
		{"aud_list_without_project", []hdr{bearer(withClaims(map[string]any{"aud": []string{"P2OtherProject000000000001", "mlflow"}}))}, nil},
		{"drn_refresh_on_session", []hdr{bearer(withClaims(map[string]any{"drn": "DSR"}))}, nil},
		{"drn_missing", []hdr{bearer(withClaims(map[string]any{"drn": nil}))}, nil},
		{"refresh_token_as_bearer", []hdr{bearer(e.bob.refresh)}, nil},
		{"refresh_token_as_basic_password", []hdr{{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+e.root.refresh))}}, nil},
		{"token_from_other_project_sim", []hdr{bearer(otherTok)}, nil},
		{"token_from_same_project_id_other_keys", []hdr{bearer(twinTok)}, nil},
		{"oversized_token", []hdr{bearer(oversized)}, []int{401, 431}},
		{"two_authorization_headers", []hdr{bearer(e.bob.session), bearer(e.root.session)}, nil},
		{"unknown_scheme_with_root_token", []hdr{{"Authorization", "Token " + e.root.session}}, nil},
		{"bad_header_not_rescued_by_cookie", []hdr{bearer("garbage.garbage.garbage"), {"Cookie", "mlflow_ds=" + e.root.session}}, nil},
		{"refresh_token_in_session_cookie", []hdr{{"Cookie", "mlflow_ds=" + e.root.refresh}}, nil},
		{"session_in_refresh_cookie", []hdr{{"Cookie", "mlflow_dsr=" + e.root.session}}, nil},
		{"reserved_admin_username_as_sub", []hdr{bearer(withClaims(map[string]any{"sub": "mlflow-descope-auth-admin"}))}, []int{403}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.status
			if want == nil {
				want = []int{401}
			}
			b, _ := json.Marshal(body(tt.name))
			r := e.raw("POST", target, append(tt.header, jsonCT), b)
			refused(t, r, r.status != 431, want...)
		})
	}

	// Tokens only in the query string never authenticate, whatever the name.
	for _, name := range []string{"token", "access_token", "session", "jwt", "DS", "authorization"} {
		t.Run("query_param_"+name, func(t *testing.T) {
			r := e.raw("GET", "/api/2.0/mlflow/experiments/search?max_results=1&"+name+"="+url.QueryEscape(e.root.session), nil, nil)
			refused(t, r, true, 401)
		})
	}
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func merge(m, extra map[string]any) map[string]any {
	out := clone(m)
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func first(a, _ string) string { return a }

// --- access keys -------------------------------------------------------------

func (e *secEnv) accessKeyCases(t *testing.T, target string, body func(string) map[string]any) {
	sim := e.st.sim
	_, bobKey, err := sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "bob-ci", BoundUserID: e.bob.id})
	if err != nil {
		t.Fatal(err)
	}
	deactID, deactKey, _ := sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "deact", BoundUserID: e.root.id})
	if err := sim.DeactivateAccessKey(deactID); err != nil {
		t.Fatal(err)
	}
	delID, delKey, _ := sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "deleted", BoundUserID: e.root.id})
	if err := sim.DeleteAccessKey(delID); err != nil {
		t.Fatal(err)
	}
	_, expKey, _ := sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "expired", BoundUserID: e.root.id, ExpireTime: time.Now().Add(-time.Hour)})
	_, rootKey, _ := sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "root-ci", BoundUserID: e.root.id})
	adminUser, adminPass := e.bootstrapAdmin()
	basic := func(u, p string) hdr {
		return hdr{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))}
	}
	// An exchanged access-key JWT, obtained from Descope by the key holder.
	exch := e.exchange(t, rootKey)

	// Control: bob's own key works, and acts as bob whatever Basic username
	// is claimed next to it.
	who := e.raw("GET", "/auth/whoami", []hdr{basic(e.root.id, bobKey)}, nil)
	if who.status != http.StatusOK || !strings.Contains(string(who.body), `"username":"`+e.bob.login+`"`) {
		t.Errorf("Basic <root id>:<bob's key> must act as bob: %s", who)
	}

	tests := []struct {
		name   string
		header []hdr
		status int
	}{
		{"bob_key_cannot_write_alice_data", []hdr{bearer(bobKey)}, 403},
		{"basic_username_root_with_bob_key", []hdr{basic(e.root.id, bobKey)}, 403},
		{"deactivated_key", []hdr{bearer(deactKey)}, 401},
		{"deleted_key", []hdr{bearer(delKey)}, 401},
		{"expired_key", []hdr{basic("x", expKey)}, 401},
		{"random_key", []hdr{bearer("K2notakey:" + strings.Repeat("z", 40))}, 401},
		{"mlflow_bootstrap_admin_basic", []hdr{basic(adminUser, adminPass)}, 401},
		{"exchanged_access_key_jwt_as_bearer", []hdr{bearer(exch)}, 401},
		{"empty_basic_password", []hdr{basic(adminUser, "")}, 401},
		{"basic_not_base64", []hdr{{"Authorization", "Basic %%%"}}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(body(tt.name))
			r := e.raw("POST", target, append(tt.header, jsonCT), b)
			refused(t, r, true, tt.status)
		})
	}
}

// exchange trades an access key for its JWT directly at Descope.
func (e *secEnv) exchange(t *testing.T, key string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", e.st.sim.URL()+"/v1/auth/accesskey/exchange", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+e.st.sim.ProjectID()+":"+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		SessionJwt string `json:"sessionJwt"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.SessionJwt == "" {
		t.Fatalf("exchange: %d %v", res.StatusCode, err)
	}
	return out.SessionJwt
}

// --- identity headers ----------------------------------------------------------

func (e *secEnv) identityHeaderCases(t *testing.T, d secData, target string, body func(string) map[string]any) {
	adminUser, adminPass := e.bootstrapAdmin()
	good, err := assertion.NewSigner([]byte(secAssertionSecret), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A currently valid assertion for MLflow's admin, signed with the real
	// secret: the worst case of a leaked secret or a captured header.
	valid, _ := good.Sign(adminUser, "captured")
	validAlice, _ := good.Sign(e.alice.login, "captured")
	wrong, _ := assertion.NewSigner([]byte("some-other-secret-some-other-secret-0000"), time.Minute, nil)
	otherSecret, _ := wrong.Sign(adminUser, "forged")
	oldFormat := "v0." + seg(map[string]any{"sub": adminUser, "exp": time.Now().Add(time.Hour).Unix()}) + ".AAAA"
	adminBasic := "Basic " + base64.StdEncoding.EncodeToString([]byte(adminUser+":"+adminPass))

	spoofs := []struct {
		name string
		h    []hdr
	}{
		{"assertion_valid_real_secret", []hdr{{"X-Mlflow-Descope-Assertion", valid}}},
		{"assertion_for_owner_alice", []hdr{{"X-Mlflow-Descope-Assertion", validAlice}}},
		{"assertion_underscore_spelling", []hdr{{"X_Mlflow_Descope_Assertion", valid}}},
		{"assertion_lowercase_underscore", []hdr{{"x_mlflow_descope_assertion", valid}}},
		{"assertion_mixed_spelling", []hdr{{"x-MLFLOW_descope-ASSERTION", valid}}},
		{"assertion_twice", []hdr{{"X-Mlflow-Descope-Assertion", valid}, {"X-Mlflow-Descope-Assertion", valid}}},
		{"assertion_other_secret", []hdr{{"X-Mlflow-Descope-Assertion", otherSecret}}},
		{"assertion_old_format", []hdr{{"X-Mlflow-Descope-Assertion", oldFormat}}},
		{"x_forwarded_user_admin", []hdr{{"X-Forwarded-User", adminUser}, {"X-Forwarded-Email", "root@example.com"}}},
		{"remote_user_admin", []hdr{{"Remote-User", adminUser}, {"X-Remote-User", adminUser}, {"Remote_User", adminUser}}},
		{"x_mlflow_authorization_admin_basic", []hdr{{"X-MLflow-Authorization", adminBasic}}},
		{"x_mlflow_assistant_delegation", []hdr{{"X-MLflow-Assistant-Delegation", adminUser}}},
		{"proxy_authorization_admin_basic", []hdr{{"Proxy-Authorization", adminBasic}}},
		{"mlflow_flask_session_cookie", []hdr{{"Cookie", "session=eyJ1c2VybmFtZSI6ImFkbWluIn0.ZZZ.sig; mlflow-user=" + adminUser}}},
		{"x_auth_request_user", []hdr{{"X-Auth-Request-User", adminUser}, {"X-Descope-User", adminUser}}},
	}
	// Anonymous: no spoofed header stands in for signing in.
	for _, s := range spoofs {
		t.Run("anonymous_"+s.name, func(t *testing.T) {
			b, _ := json.Marshal(body("anon-" + s.name))
			r := e.raw("POST", target, append(s.h, jsonCT), b)
			refused(t, r, true, 401)
		})
	}
	// Signed in as bob (READ on alice's experiment): the header must not lift
	// him to admin or to alice.
	for _, s := range spoofs {
		t.Run("as_bob_"+s.name, func(t *testing.T) {
			b, _ := json.Marshal(body("bob-" + s.name))
			r := e.raw("POST", target, append(s.h, bearer(e.bob.session), jsonCT), b)
			refused(t, r, true, 403)
			// And MLflow sees bob, not the claimed user.
			who := e.raw("GET", "/api/2.0/mlflow/users/current", append(s.h, bearer(e.bob.session)), nil)
			if who.status != http.StatusOK || !strings.Contains(string(who.body), e.bob.login) {
				t.Errorf("users/current with spoofed headers: %s", who)
			}
		})
	}

	// X-Forwarded-For from a client that is not a trusted proxy is ignored:
	// the gateway logs (and forwards) the real peer.
	t.Run("x_forwarded_for_spoof", func(t *testing.T) {
		r := e.raw("GET", "/api/2.0/mlflow/experiments/search?max_results=1",
			[]hdr{bearer(e.bob.session), {"X-Forwarded-For", "10.66.66.66"}, {"X-Real-Ip", "10.66.66.66"}, {"Forwarded", "for=10.66.66.66"}, {"X-Request-Id", "spoofed-request-id-0001"}}, nil)
		if r.status != http.StatusOK {
			t.Fatalf("search: %s", r)
		}
		rid := r.header.Get("X-Request-Id")
		if rid == "spoofed-request-id-0001" {
			t.Errorf("client-chosen X-Request-Id accepted from an untrusted peer")
		}
		line := e.logLine(t, "request_id="+rid)
		if !strings.Contains(line, "client_ip="+r.from+" ") || strings.Contains(line, "10.66.66.66") {
			t.Errorf("spoofed client IP reached the log: %s", line)
		}
	})
}

// logLine waits for the access-log line containing needle.
func (e *secEnv) logLine(t *testing.T, needle string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range strings.Split(e.st.logs.String(), "\n") {
			if strings.Contains(l, needle) && strings.Contains(l, "msg=request") {
				return l
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no log line with %q", needle)
	return ""
}

// --- MLflow's private port --------------------------------------------------------

// directMLflowCases play a neighbour who reaches MLflow's loopback port
// without the gateway: only a valid assertion signed with the shared secret
// works, and the gateway never hands one to a client.
func (e *secEnv) directMLflowCases(t *testing.T, d secData) {
	up, err := url.Parse(e.mlflowUpstream())
	if err != nil {
		t.Fatal(err)
	}
	adminUser, adminPass := e.bootstrapAdmin()
	expired, _ := assertion.NewSigner([]byte(secAssertionSecret), time.Minute, func() time.Time { return time.Now().Add(-2 * time.Minute) })
	expiredTok, _ := expired.Sign(adminUser, "old")
	wrong, _ := assertion.NewSigner([]byte("some-other-secret-some-other-secret-0000"), time.Minute, nil)
	wrongTok, _ := wrong.Sign(adminUser, "forged")
	good, _ := assertion.NewSigner([]byte(secAssertionSecret), time.Minute, nil)
	goodTok, _ := good.Sign(e.bob.login, "x")
	// bob's genuine assertion with the subject changed to the admin.
	tampered := "v1." + seg(map[string]any{"sub": adminUser, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()}) + "." + strings.Split(goodTok, ".")[2]
	target := "/api/2.0/mlflow/experiments/update"
	tests := []struct {
		name string
		h    []hdr
	}{
		{"no_credentials", nil},
		{"bootstrap_admin_basic", []hdr{{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(adminUser+":"+adminPass))}}},
		{"descope_session_jwt", []hdr{bearer(e.root.session)}},
		{"assertion_other_secret", []hdr{{"X-Mlflow-Descope-Assertion", wrongTok}}},
		{"assertion_expired_real_secret", []hdr{{"X-Mlflow-Descope-Assertion", expiredTok}}},
		{"assertion_tampered_payload", []hdr{{"X-Mlflow-Descope-Assertion", tampered}}},
		{"x_mlflow_authorization_basic", []hdr{{"X-MLflow-Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(adminUser+":"+adminPass))}}},
	}
	// Control: the port is MLflow's and a genuine assertion is accepted, so
	// the refusals below are about the credential.
	if r := e.rawAt(up.Host, "GET", "/api/2.0/mlflow/users/current", []hdr{{"X-Mlflow-Descope-Assertion", goodTok}}, nil); r.status != http.StatusOK || !strings.Contains(string(r.body), e.bob.login) {
		t.Fatalf("control: a valid assertion sent to MLflow directly: %s", r)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(map[string]any{"experiment_id": d.expID, "new_name": "pwned-direct-" + tt.name})
			r := e.rawAt(up.Host, "POST", target, append(tt.h, jsonCT), b)
			refused(t, r, true, 401)
		})
	}
}

// --- redirects ----------------------------------------------------------------

func (e *secEnv) redirectCases(t *testing.T) {
	evil := []struct{ name, next string }{
		{"protocol_relative", "//evil.example/x"},
		{"triple_slash", "///evil.example/x"},
		{"backslash", "/\\evil.example/x"},
		{"double_backslash", "\\\\evil.example/x"},
		{"absolute_https", "https://evil.example/x"},
		{"scheme_single_slash", "https:/evil.example/x"},
		{"encoded_slashes", "/%2F%2Fevil.example/x"},
		{"encoded_backslash", "/%5Cevil.example/x"},
		{"double_encoded_slashes", "/%252F%252Fevil.example/x"},
		{"javascript", "javascript:alert(document.domain)"},
		{"javascript_after_slash", "/javascript:alert(1)//%0aevil.example"},
		{"data_url", "data:text/html,<script>alert(1)</script>"},
		{"crlf_header_injection", "/x\r\nSet-Cookie: pwned=1\r\nLocation: https://evil.example"},
		{"encoded_crlf", "/x%0d%0aLocation:%20https://evil.example"},
		{"tab_then_slash", "/\t/evil.example/x"},
		{"userinfo", "//user@evil.example/x"},
		{"very_long", "/" + strings.Repeat("a", 5000)},
	}
	for i, ev := range evil {
		t.Run("session_post_"+ev.name, func(t *testing.T) {
			// A user per case: sign-ins are rate-limited per user.
			u := e.newUser(fmt.Sprintf("U2SecRedirect%012d", i), fmt.Sprintf("redirect%d@example.com", i))
			s, r := u.session, u.refresh
			body, _ := json.Marshal(map[string]string{"sessionJwt": s, "refreshJwt": r, "next": ev.next})
			res := e.raw("POST", "/auth/session", []hdr{jsonCT, {"Origin", e.origin()}}, body)
			var out struct{ Redirect string }
			_ = json.Unmarshal(res.body, &out)
			if res.status != http.StatusOK || out.Redirect != "/" {
				t.Errorf("next=%q: got %s, want the fallback redirect \"/\"", trunc(ev.next, 60), res)
			}
		})
		t.Run("login_page_"+ev.name, func(t *testing.T) {
			res := e.raw("GET", "/auth/login?next="+url.QueryEscape(ev.next), []hdr{{"Accept", "text/html"}}, nil)
			if res.status != http.StatusOK {
				t.Fatalf("login page: %s", res)
			}
			page := string(res.body)
			for _, bad := range []string{"evil.example", "javascript:", "data:text", "pwned", strings.Repeat("a", 3000)} {
				if strings.Contains(page, bad) {
					t.Errorf("login page echoes %q for next=%q", bad, ev.next)
				}
			}
			if !strings.Contains(page, `redirect-url="`+e.origin()+`/auth/login?next=%2F"`) {
				t.Errorf("redirect-url attribute is not the fallback on this origin")
			}
		})
	}
	// The login page's redirect-url (where magic links and OAuth come back)
	// must not follow a forged Host header.
	t.Run("login_redirect_url_ignores_forged_host", func(t *testing.T) {
		res := e.raw("GET", "/auth/login?next=%2F", []hdr{{"Host", "evil.example"}, {"Accept", "text/html"}}, nil)
		if strings.Contains(string(res.body), "evil.example") {
			m := regexp.MustCompile(`redirect-url="[^"]*"`).FindString(string(res.body))
			t.Errorf("GET /auth/login?next=%%2F with Host: evil.example renders %s; want the gateway's own origin", m)
		}
	})
	// Unauthenticated browser navigations are sent to the login page with a
	// same-origin next only.
	for _, p := range []string{"//evil.example/", "/\\evil.example/", "/%2F%2Fevil.example/"} {
		t.Run("navigation_"+url.PathEscape(p), func(t *testing.T) {
			res := e.raw("GET", p, []hdr{{"Accept", "text/html"}}, nil)
			if loc := res.header.Get("Location"); loc != "" && !strings.HasPrefix(loc, "/auth/login?next=%2F") {
				t.Errorf("Location %q", loc)
			}
			if loc := res.header.Get("Location"); strings.Contains(loc, "evil") {
				t.Errorf("redirect towards %q", loc)
			}
			refused(t, res, true, 400)
		})
	}
}

// --- cross-site -----------------------------------------------------------------

func (e *secEnv) crossSiteCases(t *testing.T, d secData) {
	cookie := e.signIn(e.alice)
	ck := hdr{"Cookie", cookie}
	otherPort := "http://127.0.0.1:1"
	tests := []struct {
		name, method, path, ct string
		h                      []hdr
		status                 int
	}{
		{"foreign_origin", "POST", "/ajax-api/2.0/mlflow/experiments/create", "application/json", []hdr{{"Origin", "https://evil.example"}}, 403},
		{"null_origin", "POST", "/ajax-api/2.0/mlflow/experiments/create", "application/json", []hdr{{"Origin", "null"}}, 403},
		{"no_origin_sec_fetch_cross_site", "POST", "/ajax-api/2.0/mlflow/experiments/create", "application/json", []hdr{{"Sec-Fetch-Site", "cross-site"}}, 403},
		{"no_origin_sec_fetch_same_site", "POST", "/ajax-api/2.0/mlflow/experiments/create", "application/json", []hdr{{"Sec-Fetch-Site", "same-site"}}, 403},
		{"no_origin_no_fetch_metadata", "POST", "/api/2.0/mlflow/experiments/create", "application/json", nil, 403},
		{"origin_other_port", "POST", "/ajax-api/2.0/mlflow/experiments/create", "application/json", []hdr{{"Origin", otherPort}}, 403},
		{"origin_localhost_alias", "POST", "/ajax-api/2.0/mlflow/experiments/create", "application/json", []hdr{{"Origin", strings.Replace(e.origin(), "127.0.0.1", "localhost", 1)}}, 403},
		{"origin_https_scheme", "POST", "/ajax-api/2.0/mlflow/experiments/create", "application/json", []hdr{{"Origin", strings.Replace(e.origin(), "http:", "https:", 1)}}, 403},
		{"origin_suffix_match", "POST", "/ajax-api/2.0/mlflow/experiments/create", "application/json", []hdr{{"Origin", e.origin() + ".evil.example"}}, 403},
		{"foreign_origin_claims_same_origin_fetch", "POST", "/ajax-api/2.0/mlflow/experiments/create", "application/json", []hdr{{"Origin", "https://evil.example"}, {"Sec-Fetch-Site", "same-origin"}}, 403},
		{"form_text_plain_cross_site", "POST", "/api/2.0/mlflow/experiments/create", "text/plain", []hdr{{"Origin", "https://evil.example"}}, 403},
		{"form_urlencoded_cross_site", "POST", "/api/2.0/mlflow/experiments/create", "application/x-www-form-urlencoded", []hdr{{"Origin", "https://evil.example"}}, 403},
		{"form_multipart_cross_site", "POST", "/api/2.0/mlflow/experiments/create", "multipart/form-data; boundary=x", []hdr{{"Origin", "https://evil.example"}}, 403},
		{"form_text_plain_same_origin", "POST", "/api/2.0/mlflow/experiments/create", "text/plain", []hdr{{"Origin", e.origin()}}, 400},
		{"form_urlencoded_same_origin", "POST", "/api/2.0/mlflow/experiments/create", "application/x-www-form-urlencoded", []hdr{{"Origin", e.origin()}}, 400},
		{"delete_cross_site", "DELETE", "/api/2.0/mlflow/registered-models/delete", "application/json", []hdr{{"Origin", "https://evil.example"}}, 403},
		{"patch_cross_site", "PATCH", "/api/2.0/mlflow/registered-models/update", "application/json", []hdr{{"Origin", "https://evil.example"}}, 403},
		{"graphql_cross_site", "POST", "/graphql", "application/json", []hdr{{"Origin", "https://evil.example"}}, 403},
		{"artifact_put_cross_site", "PUT", "/api/2.0/mlflow-artifacts/artifacts/" + d.expID + "/" + d.runID + "/artifacts/model.txt", "application/octet-stream", []hdr{{"Origin", "https://evil.example"}}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			switch {
			case strings.Contains(tt.path, "experiments/create"):
				body, _ = json.Marshal(map[string]any{"name": "csrf-" + tt.name})
			case strings.Contains(tt.path, "registered-models"):
				body, _ = json.Marshal(map[string]any{"name": d.model, "description": "csrf"})
			case tt.path == "/graphql":
				body = []byte(`{"query":"mutation { testMutation(inputString: \"csrf\") { output } }"}`)
			default:
				body = []byte("csrf overwrite")
			}
			r := e.raw(tt.method, tt.path, append([]hdr{ck, {"Content-Type", tt.ct}}, tt.h...), body)
			refused(t, r, true, tt.status)
			if strings.Contains(tt.path, "experiments/create") {
				got := e.api(e.root.session, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=csrf-"+tt.name, nil)
				if got.status != http.StatusNotFound {
					t.Errorf("cross-site create left an experiment: %s", got)
				}
			}
		})
	}
	// Login CSRF: a foreign page cannot plant its own session in the
	// victim's browser.
	t.Run("login_csrf_foreign_origin", func(t *testing.T) {
		s, r := e.mint(e.bob.id, descopesim.MintOptions{})
		body, _ := json.Marshal(map[string]string{"sessionJwt": s, "refreshJwt": r})
		res := e.raw("POST", "/auth/session", []hdr{jsonCT, {"Origin", "https://evil.example"}}, body)
		refused(t, res, true, 403)
		if len(res.header.Values("Set-Cookie")) > 0 {
			t.Errorf("cookies set on a cross-origin sign-in: %v", res.header.Values("Set-Cookie"))
		}
	})
	t.Run("login_csrf_form_post_no_origin", func(t *testing.T) {
		s, _ := e.mint(e.bob.id, descopesim.MintOptions{})
		res := e.raw("POST", "/auth/session", []hdr{{"Content-Type", "text/plain"}, {"Sec-Fetch-Site", "cross-site"}}, []byte(`{"sessionJwt":"`+s+`"}`))
		refused(t, res, true, 403, 400)
		if len(res.header.Values("Set-Cookie")) > 0 {
			t.Errorf("cookies set: %v", res.header.Values("Set-Cookie"))
		}
	})
	// Control: the same cookie, same origin, works, so the refusals above
	// are about the origin and nothing else.
	t.Run("control_same_origin_works", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"name": "same-origin-ok"})
		r := e.raw("POST", "/ajax-api/2.0/mlflow/experiments/create", []hdr{ck, jsonCT, {"Origin", e.origin()}}, body)
		if r.status != http.StatusOK {
			t.Errorf("same-origin cookie write: %s", r)
		}
	})
}

// --- the gateway's own paths ---------------------------------------------------

func (e *secEnv) gatewayPathCases(t *testing.T) {
	b := bearer(e.bob.session)
	tests := []struct {
		name, target string
		status       []int
	}{
		{"auth_prefix_mlflow_route", "/auth/api/2.0/mlflow/experiments/search", []int{404}},
		{"auth_prefix_ajax_route", "/auth/ajax-api/2.0/mlflow/users/list", []int{404}},
		{"auth_dotdot_to_api", "/auth/../api/2.0/mlflow/users/list", []int{400}},
		{"auth_encoded_dotdot", "/auth/%2e%2e/api/2.0/mlflow/users/list", []int{400}},
		{"auth_encoded_slash", "/auth%2Fapi/2.0/mlflow/users/list", []int{400}},
		{"auth_double_slash", "/auth//api/2.0/mlflow/users/list", []int{400}},
		{"auth_static_traversal", "/auth/static/../../../etc/passwd", []int{400}},
		{"auth_static_encoded_traversal", "/auth/static/%2e%2e/%2e%2e/go.mod", []int{400}},
		{"auth_admin_as_non_admin", "/auth/admin/", []int{403}},
		{"auth_admin_audit_as_non_admin", "/auth/admin/audit", []int{403}},
		{"auth_unknown_page", "/auth/graphql", []int{404}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.raw("GET", tt.target, []hdr{b}, nil)
			refused(t, r, true, tt.status...)
			if strings.Contains(string(r.body), "root:") || strings.Contains(string(r.body), "module ") {
				t.Errorf("file contents leaked: %s", r)
			}
			// An MLflow answer would be its HTML 404 or its own JSON; the
			// gateway's is ENDPOINT_NOT_FOUND/INVALID_PARAMETER_VALUE/PERMISSION_DENIED.
			if strings.Contains(string(r.body), "<title>") || strings.Contains(string(r.body), "experiments") {
				t.Errorf("answer came from MLflow: %s", r)
			}
		})
	}
	// Probes: nothing about users, tokens, versions, addresses or secrets.
	for _, p := range []string{"/health", "/ready"} {
		for _, auth := range []bool{false, true} {
			name := strings.TrimPrefix(p, "/")
			if auth {
				name += "_with_session"
			}
			t.Run("probe_"+name, func(t *testing.T) {
				var hs []hdr
				if auth {
					hs = []hdr{bearer(e.root.session)}
				}
				r := e.raw("GET", p, hs, nil)
				if r.status != http.StatusOK {
					t.Fatalf("%s: %s", p, r)
				}
				var body map[string]any
				if err := json.Unmarshal(r.body, &body); err != nil {
					t.Fatalf("%s not JSON: %s", p, r)
				}
				for k := range body {
					if k != "status" && k != "checks" {
						t.Errorf("%s exposes %q", p, k)
					}
				}
				s := string(r.body)
				for _, leak := range []string{"127.0.0.1", e.st.sim.ProjectID(), "U2Sec", secAssertionSecret, "mlflow-descope-auth-admin", "version", "sqlite", "/tmp"} {
					if strings.Contains(s, leak) {
						t.Errorf("%s leaks %q: %s", p, leak, s)
					}
				}
				if len(r.header.Values("Set-Cookie")) > 0 {
					t.Errorf("%s sets cookies", p)
				}
			})
		}
	}
}

// --- sign-out ------------------------------------------------------------------

func (e *secEnv) signedOutCases(t *testing.T, target string, body func(string) map[string]any) {
	s, r := e.mint(e.alice.id, descopesim.MintOptions{SessionTTL: time.Hour})
	u := secUser{id: e.alice.id, session: s, refresh: r}
	cookie := e.signIn(u)
	out := e.raw("POST", "/auth/logout", []hdr{{"Cookie", cookie}, {"Origin", e.origin()}}, []byte{})
	if out.status != http.StatusOK {
		t.Fatalf("logout: %s", out)
	}
	expiredSess, _ := e.mint(e.alice.id, descopesim.MintOptions{SessionTTL: -time.Minute})
	tests := []struct {
		name string
		h    []hdr
	}{
		{"session_jwt_as_bearer", []hdr{bearer(s)}},
		{"session_jwt_as_basic_password", []hdr{{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+s))}}},
		{"old_cookies", []hdr{{"Cookie", cookie}}},
		{"session_cookie_only", []hdr{{"Cookie", "mlflow_ds=" + s}}},
		{"refresh_cookie_with_expired_session", []hdr{{"Cookie", "mlflow_ds=" + expiredSess + "; mlflow_dsr=" + r}}},
		{"refresh_cookie_only", []hdr{{"Cookie", "mlflow_dsr=" + r}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(body("signed-out-" + tt.name))
			res := e.raw("POST", target, append(tt.h, jsonCT, hdr{"Origin", e.origin()}), b)
			refused(t, res, true, 401)
		})
	}
}

// --- disabled accounts ---------------------------------------------------------

func (e *secEnv) disabledAccountCases(t *testing.T, target string, body func(string) map[string]any) {
	sim := e.st.sim
	dave := e.newUser("U2SecDave0000000000000001", "dave@example.com", "admin")
	_, daveKey, err := sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "dave-ci", BoundUserID: dave.id})
	if err != nil {
		t.Fatal(err)
	}
	_, daveRefresh := e.mint(dave.id, descopesim.MintOptions{})
	daveExpired, _ := e.mint(dave.id, descopesim.MintOptions{SessionTTL: -time.Minute})
	daveFresh, _ := e.mint(dave.id, descopesim.MintOptions{})
	if r := e.api(dave.session, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil); r.status != http.StatusOK {
		t.Fatalf("dave before disabling: %s", r)
	}
	if err := sim.SetUserStatus(dave.id, descopesim.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	// The sync job (every second here) notices; until then the session JWT
	// is valid (the documented window).
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := e.api(dave.session, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil)
		if r.status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("disabled user still served 20s after disabling: %s", r)
		}
		time.Sleep(250 * time.Millisecond)
	}
	tests := []struct {
		name string
		h    []hdr
	}{
		{"live_session_jwt", []hdr{bearer(dave.session)}},
		{"other_session_minted_before_disable", []hdr{bearer(daveFresh)}},
		{"cookie_refresh", []hdr{{"Cookie", "mlflow_ds=" + daveExpired + "; mlflow_dsr=" + daveRefresh}, {"Origin", e.origin()}}},
		{"access_key_bound_to_disabled_user", []hdr{bearer(daveKey)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(body("disabled-" + tt.name))
			r := e.raw("POST", target, append(tt.h, jsonCT), b)
			refused(t, r, true, 401, 403)
		})
	}
	// Signing in again with the disabled account's tokens is refused too.
	t.Run("sign_in_again", func(t *testing.T) {
		b, _ := json.Marshal(map[string]string{"sessionJwt": dave.session, "refreshJwt": dave.refresh})
		r := e.raw("POST", "/auth/session", []hdr{jsonCT, {"Origin", e.origin()}}, b)
		if r.status == http.StatusOK {
			// The cookies it sets must not work.
			var cookies []string
			for _, c := range (&http.Response{Header: r.header}).Cookies() {
				cookies = append(cookies, c.Name+"="+c.Value)
			}
			res := e.raw("GET", "/api/2.0/mlflow/experiments/search?max_results=1", []hdr{{"Cookie", strings.Join(cookies, "; ")}}, nil)
			refused(t, res, true, 401, 403)
		}
	})
}

// --- key rotation ---------------------------------------------------------------

func (e *secEnv) rotationCases(t *testing.T, target string, body func(string) map[string]any) {
	sim := e.st.sim
	old, _ := e.mint(e.root.id, descopesim.MintOptions{SessionTTL: time.Hour})
	oldRS, _ := e.mint(e.root.id, descopesim.MintOptions{SessionTTL: time.Hour, Alg: descopesim.AlgRS256})
	_, key, _ := sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "pre-rotation", BoundUserID: e.root.id})
	oldKeyJWT := e.exchange(t, key)
	for _, tok := range []string{old, oldRS} { // accepted, and now in the verifier's cache
		if r := e.api(tok, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil); r.status != http.StatusOK {
			t.Fatalf("before rotation: %s", r)
		}
	}
	if err := sim.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	// A token with the new keys makes the gateway refetch the JWKS (rate
	// limited, so allow for the forced-refetch interval).
	fresh, _ := e.mint(e.root.id, descopesim.MintOptions{SessionTTL: time.Hour})
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := e.api(fresh, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil)
		if r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new key never accepted: %s", r)
		}
		time.Sleep(500 * time.Millisecond)
	}
	tests := []struct {
		name string
		tok  string
	}{
		{"session_signed_by_removed_es384_key", old},
		{"session_signed_by_removed_rs256_key", oldRS},
		{"access_key_jwt_signed_by_removed_key", oldKeyJWT},
		{"refresh_signed_by_removed_key", e.root.refresh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(body("rotated-" + tt.name))
			r := e.raw("POST", target, []hdr{bearer(tt.tok), jsonCT}, b)
			refused(t, r, true, 401)
		})
	}
}

// --- logs ------------------------------------------------------------------------

// secretsNotLogged: no token, key or secret the suite used appears in the
// gateway's log (which includes MLflow's output).
func (e *secEnv) secretsNotLogged(t *testing.T) {
	logs := e.st.logs.String()
	_, pass := e.bootstrapAdmin()
	secrets := map[string]string{
		"alice session": e.alice.session, "alice refresh": e.alice.refresh,
		"bob session": e.bob.session, "root refresh": e.root.refresh,
		"assertion secret": secAssertionSecret, "bootstrap admin password": pass,
		"management key": e.st.sim.ManagementKey(),
	}
	for i, tok := range e.issued {
		secrets["suite token "+strconv.Itoa(i)] = tok
	}
	for name, s := range secrets {
		// Any 24-character slice of a JWT signature part would do; check the
		// signature (the part that makes a token usable).
		needle := s
		if parts := strings.Split(s, "."); len(parts) == 3 {
			needle = parts[2]
		}
		if strings.Contains(logs, needle) {
			t.Errorf("%s appears in the gateway log", name)
		}
	}
	if strings.Contains(logs, "v1.ey") {
		t.Errorf("an assertion appears in the gateway log")
	}
}
