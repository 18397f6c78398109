package mlflow

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
)

// The vectors are shared with python/tests/test_vectors.py: both verifiers
// must reach the same outcome on every one. Regenerate with
//
//	go test ./internal/mlflow -run TestAssertionVectors -update
var update = flag.Bool("update", false, "regenerate testdata/assertion-vectors.json")

const vectorsPath = "../../testdata/assertion-vectors.json"

type vectorFile struct {
	Comment string   `json:"comment"`
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name    string            `json:"name"`
	Secret  string            `json:"secret"`
	Now     int64             `json:"now"`
	Token   string            `json:"token"`
	Outcome string            `json:"outcome"` // valid, expired, bad_signature, malformed
	Claims  *assertion.Claims `json:"claims,omitempty"`
}

const (
	vecSecret = "vector-secret-0123456789abcdef0123456789"
	vecNow    = int64(1767225600) // 2026-01-01T00:00:00Z
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rawToken MACs an arbitrary version and payload segment, as a forger holding
// the secret could.
func rawToken(secret, version, payloadSeg string) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(version + "." + payloadSeg))
	return version + "." + payloadSeg + "." + b64(h.Sum(nil))
}

func payloadToken(payload string) string { return rawToken(vecSecret, "v1", b64([]byte(payload))) }

func generateVectors(t *testing.T) vectorFile {
	t.Helper()
	at := time.Unix(vecNow, 0)
	signer, err := assertion.NewSigner([]byte(vecSecret), time.Minute, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	sign := func(sub, rid string) string {
		tok, err := signer.Sign(sub, rid)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	valid := sign("alice@example.com", "req-1")
	parts := strings.Split(valid, ".")
	exp := vecNow + 60
	p := func(body string) string { return payloadToken(body) }
	tampered, _ := json.Marshal(assertion.Claims{Subject: "mallory", IssuedAt: vecNow, ExpiresAt: exp, RequestID: "req-1"})
	sigBytes, _ := base64.RawURLEncoding.DecodeString(parts[2])
	// Same signature, different last character: non-zero trailing bits.
	last := parts[2][len(parts[2])-1]
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	nonCanonical := parts[2][:len(parts[2])-1] + string(alphabet[strings.IndexByte(alphabet, last)|1])
	vs := []vector{
		{Name: "valid", Now: vecNow, Token: valid},
		{Name: "valid_without_rid", Now: vecNow, Token: sign("bob", "")},
		{Name: "valid_unicode_subject", Now: vecNow, Token: sign("名前@example.com", "r")},
		{Name: "valid_last_second", Now: exp - 1, Token: valid},
		{Name: "valid_issued_in_future", Now: vecNow - 3600, Token: valid},
		{Name: "valid_non_canonical_signature_bits", Now: vecNow, Token: parts[0] + "." + parts[1] + "." + nonCanonical},
		{Name: "expired_at_exp", Now: exp, Token: valid},
		{Name: "expired_long_ago", Now: exp + 86400, Token: valid},
		{Name: "expired_negative_exp", Now: vecNow, Token: p(`{"sub":"alice","iat":0,"exp":-1}`)},
		{Name: "bad_signature_wrong_secret", Now: vecNow, Token: rawToken("another-secret-0123456789abcdef01234567", "v1", parts[1])},
		{Name: "bad_signature_tampered_payload", Now: vecNow, Token: "v1." + b64(tampered) + "." + parts[2]},
		{Name: "bad_signature_truncated", Now: vecNow, Token: parts[0] + "." + parts[1] + "." + b64(sigBytes[:16])},
		{Name: "bad_signature_empty", Now: vecNow, Token: parts[0] + "." + parts[1] + "."},
		{Name: "bad_signature_expired_and_forged", Now: exp + 10, Token: "v1." + b64(tampered) + "." + parts[2]},
		{Name: "malformed_empty", Now: vecNow, Token: ""},
		{Name: "malformed_two_parts", Now: vecNow, Token: parts[0] + "." + parts[1]},
		{Name: "malformed_four_parts", Now: vecNow, Token: valid + ".x"},
		{Name: "malformed_wrong_version", Now: vecNow, Token: rawToken(vecSecret, "v2", parts[1])},
		{Name: "malformed_upper_case_version", Now: vecNow, Token: rawToken(vecSecret, "V1", parts[1])},
		{Name: "malformed_padded_signature", Now: vecNow, Token: valid + "="},
		{Name: "malformed_signature_std_alphabet", Now: vecNow, Token: parts[0] + "." + parts[1] + ".+" + parts[2][1:]},
		{Name: "malformed_signature_bad_length", Now: vecNow, Token: parts[0] + "." + parts[1] + "." + parts[2] + "AB"},
		{Name: "malformed_payload_not_base64", Now: vecNow, Token: rawToken(vecSecret, "v1", "not*base64")},
		{Name: "malformed_payload_padded", Now: vecNow, Token: rawToken(vecSecret, "v1", base64.URLEncoding.EncodeToString([]byte(`{"sub":"a","exp":9999999999}`)))},
		{Name: "malformed_payload_not_json", Now: vecNow, Token: p(`sub=alice`)},
		{Name: "malformed_payload_array", Now: vecNow, Token: p(`[{"sub":"alice","exp":9999999999}]`)},
		{Name: "malformed_payload_null", Now: vecNow, Token: p(`null`)},
		{Name: "malformed_payload_trailing_data", Now: vecNow, Token: p(`{"sub":"alice","exp":9999999999} x`)},
		{Name: "malformed_payload_bom", Now: vecNow, Token: p("\ufeff" + `{"sub":"alice","exp":9999999999}`)},
		{Name: "malformed_missing_sub", Now: vecNow, Token: p(`{"iat":1,"exp":9999999999}`)},
		{Name: "malformed_empty_sub", Now: vecNow, Token: p(`{"sub":"","exp":9999999999}`)},
		{Name: "malformed_null_sub", Now: vecNow, Token: p(`{"sub":null,"exp":9999999999}`)},
		{Name: "malformed_missing_exp", Now: vecNow, Token: p(`{"sub":"alice","iat":1}`)},
		{Name: "malformed_zero_exp", Now: vecNow, Token: p(`{"sub":"alice","exp":0}`)},
		{Name: "malformed_sub_number", Now: vecNow, Token: p(`{"sub":42,"exp":9999999999}`)},
		{Name: "malformed_sub_object", Now: vecNow, Token: p(`{"sub":{"name":"alice"},"exp":9999999999}`)},
		{Name: "malformed_exp_string", Now: vecNow, Token: p(`{"sub":"alice","exp":"9999999999"}`)},
		{Name: "malformed_exp_float", Now: vecNow, Token: p(`{"sub":"alice","exp":9999999999.0}`)},
		{Name: "malformed_exp_exponent", Now: vecNow, Token: p(`{"sub":"alice","exp":1e10}`)},
		{Name: "malformed_exp_bool", Now: vecNow, Token: p(`{"sub":"alice","exp":true}`)},
		{Name: "malformed_exp_overflow", Now: vecNow, Token: p(`{"sub":"alice","exp":9223372036854775808}`)},
		{Name: "malformed_exp_nan", Now: vecNow, Token: p(`{"sub":"alice","exp":NaN}`)},
		{Name: "malformed_iat_float", Now: vecNow, Token: p(`{"sub":"alice","iat":1.5,"exp":9999999999}`)},
		{Name: "malformed_rid_number", Now: vecNow, Token: p(`{"sub":"alice","exp":9999999999,"rid":7}`)},
		{Name: "valid_whitespace", Now: vecNow, Token: p(" {\n\t\"sub\" : \"alice\" ,\r\n \"exp\" : 9999999999 } \n")},
		{Name: "valid_unknown_fields", Now: vecNow, Token: p(`{"sub":"alice","exp":9999999999,"extra":{"a":[1,2.5,null]},"n":1.5}`)},
		{Name: "valid_duplicate_key_last_wins", Now: vecNow, Token: p(`{"sub":"alice","sub":"bob","exp":9999999999}`)},
		{Name: "valid_null_keeps_earlier_value", Now: vecNow, Token: p(`{"sub":"alice","sub":null,"exp":9999999999}`)},
		{Name: "valid_case_insensitive_keys", Now: vecNow, Token: p(`{"SUB":"alice","Exp":9999999999,"IAT":5}`)},
		{Name: "valid_long_s_key", Now: vecNow, Token: p(`{"ſub":"alice","exp":9999999999}`)},
		{Name: "valid_exp_max_int64", Now: vecNow, Token: p(`{"sub":"alice","exp":9223372036854775807}`)},
		{Name: "valid_invalid_utf8_subject", Now: vecNow, Token: payloadToken("{\"sub\":\"a\xffb\",\"exp\":9999999999}")},
		{Name: "valid_escaped_subject", Now: vecNow, Token: p(`{"sub":"\u0061lice\n","exp":9999999999}`)},
	}
	for i := range vs {
		vs[i].Secret = vecSecret
		c, err := assertion.Verify([]byte(vecSecret), vs[i].Token, time.Unix(vs[i].Now, 0))
		vs[i].Outcome = outcome(err)
		if err == nil {
			vs[i].Claims = &c
		}
	}
	return vectorFile{
		Comment: "Identity assertion test vectors. Generated by internal/mlflow/assertion_vectors_test.go " +
			"(go test -run TestAssertionVectors -update) from internal/assertion; checked by that test and " +
			"by python/tests/test_vectors.py. now is unix seconds; secret is used as UTF-8 bytes.",
		Vectors: vs,
	}
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "valid"
	case errors.Is(err, assertion.ErrExpired):
		return "expired"
	case errors.Is(err, assertion.ErrSignature):
		return "bad_signature"
	case errors.Is(err, assertion.ErrMalformed):
		return "malformed"
	}
	return "error: " + err.Error()
}

func encodeVectors(t *testing.T, f vectorFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAssertionVectors(t *testing.T) {
	want := encodeVectors(t, generateVectors(t))
	if *update {
		if err := os.WriteFile(vectorsPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("read vectors (run with -update to create them): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is stale; run go test -run TestAssertionVectors -update (-generated +file):\n%s", vectorsPath, diff)
	}
	var f vectorFile
	if err := json.Unmarshal(got, &f); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, v := range f.Vectors {
		seen[v.Outcome] = true
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			c, err := assertion.Verify([]byte(v.Secret), v.Token, time.Unix(v.Now, 0))
			if got := outcome(err); got != v.Outcome {
				t.Fatalf("outcome = %s; want %s", got, v.Outcome)
			}
			if err == nil {
				if diff := cmp.Diff(v.Claims, &c); diff != "" {
					t.Errorf("claims (-want +got):\n%s", diff)
				}
			}
		})
	}
	for _, o := range []string{"valid", "expired", "bad_signature", "malformed"} {
		if !seen[o] {
			t.Errorf("no vector with outcome %s", o)
		}
	}
}
