package assertion

import (
	"testing"
	"time"
)

// BenchmarkSign is the gateway's per-request cost of minting the assertion.
func BenchmarkSign(b *testing.B) {
	s, err := NewSigner([]byte("0123456789abcdef0123456789abcdef-bench"), time.Minute, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign("U2benchuser0001", "01JBENCHREQUESTID000000000"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the Go twin of what the plugin does for every request.
func BenchmarkVerify(b *testing.B) {
	secret := []byte("0123456789abcdef0123456789abcdef-bench")
	s, err := NewSigner(secret, time.Minute, nil)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := s.Sign("U2benchuser0001", "01JBENCHREQUESTID000000000")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(secret, tok, now); err != nil {
			b.Fatal(err)
		}
	}
}
