package app_test

// Issue 15, part 1: a validly signed Descope JWT whose header or payload
// repeats a member name is refused before any claim is used, on every way a
// token reaches the gateway (Bearer, Basic password, the sign-in hand-off,
// the session cookie, the access-key exchange answer), and the request never
// reaches MLflow.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

func TestSecurityRepeatedClaims(t *testing.T) {
	e := newSecEnv(t)
	d := e.seed()
	before := e.snapshot(d)
	sim := e.st.sim
	// mallory has a Descope account and no roles; she never made a request,
	// so MLflow does not know her. If any case below were accepted, the
	// gateway would provision her (as an admin, for the roles case).
	mallory := e.newUser("U2ClaimsMallory0000000001", "mallory@example.com")
	carol := e.newUser("U2ClaimsCarol000000000001", "carol@example.com")

	now := time.Now()
	claims := func(sub, extra string) string {
		return fmt.Sprintf(`{"iss":%q,"sub":%q,"iat":%d,"exp":%d,"drn":"DS","amr":["email"]%s}`,
			sim.Issuer(), sub, now.Unix(), now.Add(30*time.Minute).Unix(), extra)
	}
	claimsNoSub := func(extra string) string {
		return fmt.Sprintf(`{"iss":%q,"iat":%d,"exp":%d,"drn":"DS","amr":["email"]%s}`,
			sim.Issuer(), now.Unix(), now.Add(30*time.Minute).Unix(), extra)
	}
	sign := func(alg, header, payload string) string {
		t.Helper()
		tok, err := sim.SignRaw(alg, header, payload)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	rename := "/api/2.0/mlflow/experiments/update"
	renameBody := func(tag string) []byte {
		b, _ := json.Marshal(map[string]any{"experiment_id": d.expID, "new_name": "pwned-" + tag})
		return b
	}

	// Control: the same hand-made claims without a repeat are accepted, so
	// every refusal below is about the repeat. carol is READ-only: MLflow
	// itself answers 403 to the rename (the request did reach MLflow).
	t.Run("control_without_repeat", func(t *testing.T) {
		tok := sign("", "", claims(carol.id, ""))
		if r := e.raw("GET", "/auth/whoami", []hdr{bearer(tok)}, nil); r.status != 200 || !strings.Contains(string(r.body), carol.id) {
			t.Fatalf("hand-made token without a repeat: %s", r)
		}
		r := e.raw("POST", rename, []hdr{bearer(tok), jsonCT}, renameBody("control"))
		refused(t, r, true, 403)
		if line := e.logLine(t, "request_id="+r.header.Get("X-Request-Id")); strings.Contains(line, "auth_failure=") {
			t.Fatalf("control failed authentication: %s", line)
		}
	})

	ecKid := sim.KeyIDs()[0]
	bearerCases := []struct {
		name  string
		token string
	}{
		{"roles_empty_then_admin", sign("", "", claims(mallory.id, `,"roles":[],"roles":["admin"]`))},
		{"sub_attacker_then_victim", sign("", "", claimsNoSub(fmt.Sprintf(`,"sub":%q,"sub":%q`, mallory.id, e.alice.id)))},
		{"dsub_attacker_then_victim", sign("RS256", "", claims(mallory.id, fmt.Sprintf(`,"dsub":%q,"dsub":%q`, mallory.id, e.root.id)))},
		{"drn_refresh_then_session", sign("", "", strings.Replace(claims(mallory.id, `,"drn":"DS"`), `"drn":"DS",`, `"drn":"DSR",`, 1))},
		{"tenant_roles_repeated", sign("", "", claims(mallory.id, `,"tenants":{"T2x":{"roles":[],"roles":["admin"]}}`))},
		{"escaped_roles_spelling", sign("", "", claims(mallory.id, `,"roles":[],"r\u006fles":["admin"]`))},
		{"header_kid_repeated", sign("", fmt.Sprintf(`{"alg":"ES384","kid":"SK2nothing","kid":%q}`, ecKid), claims(mallory.id, ""))},
		{"header_alg_repeated", sign("", fmt.Sprintf(`{"alg":"none","alg":"ES384","kid":%q}`, ecKid), claims(mallory.id, ""))},
	}
	var reqIDs []string
	for _, tt := range bearerCases {
		t.Run("bearer_"+tt.name, func(t *testing.T) {
			r := e.raw("POST", rename, []hdr{bearer(tt.token), jsonCT}, renameBody(tt.name))
			refused(t, r, true, 401)
			reqIDs = append(reqIDs, r.header.Get("X-Request-Id"))
		})
	}
	roles := bearerCases[0].token
	t.Run("basic_password", func(t *testing.T) {
		b := hdr{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+roles))}
		r := e.raw("POST", rename, []hdr{b, jsonCT}, renameBody("basic"))
		refused(t, r, true, 401)
		reqIDs = append(reqIDs, r.header.Get("X-Request-Id"))
	})
	t.Run("sign_in_hand_off", func(t *testing.T) {
		body, _ := json.Marshal(map[string]string{"sessionJwt": roles, "refreshJwt": mallory.refresh})
		r := e.raw("POST", "/auth/session", []hdr{jsonCT, {"Origin", e.origin()}}, body)
		refused(t, r, true, 401)
		if len(r.header.Values("Set-Cookie")) > 0 && strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ";"), roles[:20]) {
			t.Errorf("a refused token was set as a cookie: %v", r.header.Values("Set-Cookie"))
		}
		reqIDs = append(reqIDs, r.header.Get("X-Request-Id"))
	})
	t.Run("session_cookie", func(t *testing.T) {
		// Only the ambiguous session cookie: no refresh token to fall back on.
		r := e.raw("POST", rename, []hdr{{"Cookie", "mlflow_ds=" + roles}, {"Origin", e.origin()}, jsonCT}, renameBody("cookie"))
		refused(t, r, true, 401)
	})

	// The access-key exchange: Descope's answer carries the JWT, and the
	// answer itself is JSON the gateway acts on.
	keyID, keySecret, err := sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "claims", BoundUserID: mallory.id})
	if err != nil {
		t.Fatal(err)
	}
	keyClaims := func(extra string) string {
		return fmt.Sprintf(`{"iss":%q,"sub":%q,"iat":%d,"exp":%d%s}`, sim.Issuer(), keyID, now.Unix(), now.Add(10*time.Minute).Unix(), extra)
	}
	exchangeFault := func(t *testing.T, body string) {
		t.Helper()
		if err := sim.InjectFault(descopesim.Fault{PathPrefix: "/v1/auth/accesskey/exchange", Status: 200, Body: body, Times: 1}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sim.ClearFaults)
	}
	t.Run("exchanged_token_repeats_roles", func(t *testing.T) {
		tok := sign("RS256", "", keyClaims(`,"roles":[],"roles":["admin"]`))
		exchangeFault(t, fmt.Sprintf(`{"keyId":%q,"sessionJwt":%q,"expiration":%d}`, keyID, tok, now.Add(10*time.Minute).Unix()))
		r := e.raw("POST", rename, []hdr{bearer(keySecret), jsonCT}, renameBody("exchange-token"))
		refused(t, r, true, 401)
		reqIDs = append(reqIDs, r.header.Get("X-Request-Id"))
	})
	t.Run("exchange_answer_repeats_session", func(t *testing.T) {
		// A second key: the gateway remembers the first one as refused.
		_, keySecret, err := sim.CreateAccessKey(descopesim.AccessKeyOptions{ID: keyID + "b", Name: "claims2", BoundUserID: mallory.id})
		if err != nil {
			t.Fatal(err)
		}
		keyID := keyID + "b"
		keyClaims := func(extra string) string {
			return fmt.Sprintf(`{"iss":%q,"sub":%q,"iat":%d,"exp":%d%s}`, sim.Issuer(), keyID, now.Unix(), now.Add(10*time.Minute).Unix(), extra)
		}
		plain := sign("RS256", "", keyClaims(""))
		admin := sign("RS256", "", keyClaims(`,"roles":["admin"]`))
		exchangeFault(t, fmt.Sprintf(`{"keyId":%q,"sessionJwt":%q,"sessionJwt":%q}`, keyID, plain, admin))
		r := e.raw("POST", rename, []hdr{{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:"+keySecret))}, jsonCT}, renameBody("exchange-answer"))
		// Not a credential problem: Descope's answer is unusable, so the
		// request fails as "identity provider unavailable", never as a pass.
		refused(t, r, true, 503)
	})

	// None of them reached MLflow: the access log names the refusal for
	// each, mallory was never provisioned, and alice's data is unchanged.
	for _, id := range reqIDs {
		line := e.logLine(t, "request_id="+id)
		if !strings.Contains(line, "auth_failure=ambiguous") {
			t.Errorf("refusal is not logged as an ambiguous token: %s", line)
		}
	}
	if r := e.api(e.root.session, "GET", "/api/2.0/mlflow/users/get?username="+mallory.id, nil); r.status != http.StatusNotFound {
		t.Errorf("mallory exists in MLflow (a refused token was provisioned): %s", r)
	}
	e.untouched(d, before)
}
