package gateway

import (
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
		want   string
	}{
		{"no proxies: header ignored", none, "203.0.113.9:5555", []string{"1.2.3.4"}, "203.0.113.9"},
		{"untrusted peer: header ignored", trusted, "203.0.113.9:5555", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted peer", trusted, "10.1.2.3:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"right-most untrusted wins", trusted, "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.7, 10.9.9.9"}, "198.51.100.7"},
		{"spoofed left-most ignored", trusted, "192.168.1.1:80", []string{"1.1.1.1", "198.51.100.7"}, "198.51.100.7"},
		{"malformed chain", trusted, "10.1.2.3:80", []string{"198.51.100.7, not-an-ip"}, "10.1.2.3"},
		{"all trusted", trusted, "10.1.2.3:80", []string{"10.4.4.4"}, "10.1.2.3"},
		{"ipv4-mapped peer", trusted, "[::ffff:10.1.2.3]:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"no proxy", none, "203.0.113.9:5555", nil, "203.0.113.9"},
		{"trusted peer without a chain", trusted, "10.1.2.3:80", nil, "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.ips.of(r).String(); got != tt.want {
				t.Errorf("client IP = %s, want %s", got, tt.want)
			}
		})
	}
}
