package descopesim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// SignRaw and /sim/tokens/raw sign the exact text given, repeats included,
// with a key the JWKS publishes.
func TestSignRaw(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	exp := time.Now().Add(time.Hour).Unix()
	payload := fmt.Sprintf(`{"sub":"U2a","sub":"U2b","exp":%d,"drn":"DS"}`, exp)
	for _, alg := range []string{AlgES384, AlgRS256} {
		var out struct {
			JWT string `json:"jwt"`
		}
		body := fmt.Sprintf(`{"alg":%q,"payload":%q}`, alg, payload)
		if resp := call(t, s, http.MethodPost, "/sim/tokens/raw", "", body, &out); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", alg, resp.StatusCode)
		}
		parts := strings.Split(out.JWT, ".")
		if len(parts) != 3 {
			t.Fatalf("%s: %q is not a compact JWS", alg, out.JWT)
		}
		got, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil || string(got) != payload {
			t.Fatalf("%s: payload %q, %v; want the text as given", alg, got, err)
		}
		claims, err := verifyJWKS(t, s, out.JWT)
		if err != nil {
			t.Fatalf("%s: does not verify against the JWKS: %v", alg, err)
		}
		if claims["sub"] != "U2b" { // encoding/json keeps the last copy
			t.Fatalf("%s: sub %v", alg, claims["sub"])
		}
	}
	header := fmt.Sprintf(`{"alg":"ES384","kid":%q,"kid":%q}`, "other", s.KeyIDs()[0])
	tok, err := s.SignRaw("", header, payload)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0]); string(h) != header {
		t.Fatalf("header %q; want %q", h, header)
	}
	if resp := call(t, s, http.MethodPost, "/sim/tokens/raw", "", `{"alg":"HS256","payload":"{}"}`, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown alg: status %d", resp.StatusCode)
	}
	if resp := call(t, s, http.MethodPost, "/sim/tokens/raw", "", `{}`, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no payload: status %d", resp.StatusCode)
	}
}
