package gateway

import (
	"crypto/tls"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := clientIPs{trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.1/32")}}
	none := clientIPs{}
	tests := []struct {
		name   string
		ips    clientIPs
		remote string
		xff    []string
		proto  string
		tls    bool
		want   string
		scheme string
	}{
		{"no proxies: header ignored", none, "203.0.113.9:5555", []string{"1.2.3.4"}, "https", false, "203.0.113.9", "http"},
		{"untrusted peer: header ignored", trusted, "203.0.113.9:5555", []string{"1.2.3.4"}, "https", false, "203.0.113.9", "http"},
		{"trusted peer", trusted, "10.1.2.3:80", []string{"198.51.100.7"}, "https", false, "198.51.100.7", "https"},
		{"right-most untrusted wins", trusted, "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.7, 10.9.9.9"}, "", false, "198.51.100.7", "http"},
		{"spoofed left-most ignored", trusted, "192.168.1.1:80", []string{"1.1.1.1", "198.51.100.7"}, "", false, "198.51.100.7", "http"},
		{"malformed chain", trusted, "10.1.2.3:80", []string{"198.51.100.7, not-an-ip"}, "", false, "10.1.2.3", "http"},
		{"all trusted", trusted, "10.1.2.3:80", []string{"10.4.4.4"}, "", false, "10.1.2.3", "http"},
		{"ipv4-mapped peer", trusted, "[::ffff:10.1.2.3]:80", []string{"198.51.100.7"}, "", false, "198.51.100.7", "http"},
		{"tls without proxy", none, "203.0.113.9:5555", nil, "http", true, "203.0.113.9", "https"},
		{"bogus proto", trusted, "10.1.2.3:80", nil, "javascript", false, "10.1.2.3", "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if got := tt.ips.of(r).String(); got != tt.want {
				t.Errorf("client IP = %s, want %s", got, tt.want)
			}
			if got := tt.ips.forwardedProto(r); got != tt.scheme {
				t.Errorf("scheme = %s, want %s", got, tt.scheme)
			}
		})
	}
}
