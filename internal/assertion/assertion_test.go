package assertion

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestSignVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	s, err := NewSigner(secret, time.Minute, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign("U2alice", "req-1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	tests := []struct {
		name  string
		token string
		at    time.Time
		key   []byte
		want  error
	}{
		{"valid", tok, now, secret, nil},
		{"valid until just before exp", tok, now.Add(59 * time.Second), secret, nil},
		{"expired", tok, now.Add(time.Minute), secret, ErrExpired},
		{"other secret", tok, now, []byte("another-secret-of-32-bytes-......"), ErrSignature},
		{"tampered payload", parts[0] + "." + parts[1] + "A." + parts[2], now, secret, ErrSignature},
		{"swapped version", "v2." + parts[1] + "." + parts[2], now, secret, ErrMalformed},
		{"no signature", parts[0] + "." + parts[1], now, secret, ErrMalformed},
		{"empty", "", now, secret, ErrMalformed},
		{"bad base64", "v1.!!!." + parts[2], now, secret, ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Verify(tt.key, tt.token, tt.at)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && (c.Subject != "U2alice" || c.RequestID != "req-1" || c.ExpiresAt != now.Add(time.Minute).Unix()) {
				t.Errorf("claims = %+v", c)
			}
		})
	}
}

func TestSignerRefusesWeakSetup(t *testing.T) {
	t.Parallel()
	if _, err := NewSigner([]byte("short"), time.Minute, nil); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
	if _, err := NewSigner(secret, 0, nil); err == nil {
		t.Error("a zero lifetime was accepted")
	}
	s, _ := NewSigner(secret, time.Minute, nil)
	if _, err := s.Sign("", "x"); err == nil {
		t.Error("an empty subject was signed")
	}
}
