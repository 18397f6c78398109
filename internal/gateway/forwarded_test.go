package gateway

import (
	"net/netip"
	"testing"
)

func TestForwardedFor(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"127.0.0.1":        "unknown",
		"127.9.8.7":        "unknown",
		"::1":              "unknown",
		"::ffff:127.0.0.1": "unknown",
		"0.0.0.0":          "unknown",
		"::":               "unknown",
		"":                 "unknown",
		"10.1.2.3":         "10.1.2.3",
		"203.0.113.9":      "203.0.113.9",
		"::ffff:10.1.2.3":  "10.1.2.3",
		"2001:db8::1":      "2001:db8::1",
		"fe80::1":          "fe80::1",
	} {
		var a netip.Addr
		if in != "" {
			a = netip.MustParseAddr(in)
		}
		if got := forwardedFor(a); got != want {
			t.Errorf("forwardedFor(%q) = %q; want %q", in, got, want)
		}
	}
}
