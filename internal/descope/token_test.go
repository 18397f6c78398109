package descope

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSecretsDoNotPrint(t *testing.T) {
	t.Parallel()
	const raw = "eyJhbGciOiJFUzM4NCJ9.secret-payload.secret-signature"
	tok := &Token{Raw: raw, Kind: KindSession, Subject: "U1", KeyID: "k1", Expiry: testNow}
	rr := RefreshResult{SessionJWT: raw, RefreshJWT: raw + "r", Rotated: true}
	ex := Exchange{KeyID: "K1", SessionJWT: raw}
	key := Secret(testMgmtKey)

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("values", "token", tok, "token_value", *tok, "refresh", rr, "exchange", ex, "key", key)
	printed := logs.String() + fmt.Sprintf("%v %+v %#v %s %v %+v %v %v %#v %s", tok, tok, *tok, tok, rr, rr, ex, key, key, key)
	for _, secret := range []string{"secret-payload", "secret-signature", testMgmtKey} {
		if strings.Contains(printed, secret) {
			t.Errorf("output contains %q:\n%s", secret, printed)
		}
	}
	for _, want := range []string{`"subject":"U1"`, `"kid":"k1"`, `"fingerprint":"` + tok.Fingerprint() + `"`, `"key":"********"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
	if key.Reveal() != testMgmtKey || Secret("").String() != "" {
		t.Error("Secret.Reveal or empty String wrong")
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	for k, want := range map[Kind]string{KindSession: "session", KindRefresh: "refresh", KindAccessKey: "access_key", 0: "kind(0)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String(): got %q; want %q", int(k), got, want)
		}
	}
}

func TestReason(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("x: %w", ErrExpired), "expired"},
		{fmt.Errorf("x: %w", ErrNotYetValid), "not_yet_valid"},
		{ErrIssuer, "issuer"},
		{ErrAudience, "audience"},
		{ErrTokenKind, "token_kind"},
		{ErrSignature, "signature"},
		{ErrUnknownKey, "unknown_key"},
		{ErrMalformed, "malformed"},
		{fmt.Errorf("%w: %w", ErrKeysUnavailable, ErrUnavailable), "keys_unavailable"},
		{&APIError{Status: http.StatusUnauthorized}, "rejected"},
		{&APIError{Status: http.StatusTooManyRequests}, "rate_limited"},
		{&APIError{Status: http.StatusBadGateway}, "unavailable"},
		{unavailable("op", errors.New("boom")), "unavailable"},
		{ErrNoManagementKey, "no_management_key"},
		{errors.New("other"), "error"},
	} {
		if got := Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v): got %q; want %q", tt.err, got, tt.want)
		}
	}
}

func TestAccessKeyActive(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		key  AccessKey
		want bool
	}{
		{AccessKey{Status: "active"}, true},
		{AccessKey{Status: "active", ExpireTime: testNow.Add(time.Hour)}, true},
		{AccessKey{Status: "active", ExpireTime: testNow.Add(-time.Hour)}, false},
		{AccessKey{Status: "inactive"}, false},
	} {
		if got := tt.key.Active(testNow); got != tt.want {
			t.Errorf("Active(%+v): got %t; want %t", tt.key, got, tt.want)
		}
	}
}
