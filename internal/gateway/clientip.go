package gateway

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIPs finds the address of the client behind any trusted proxies.
type clientIPs struct {
	trusted []netip.Prefix
}

func (c clientIPs) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// of returns the client address. X-Forwarded-For is read only when the direct
// peer is a trusted proxy, and then from the right: the right-most address
// that is not itself a trusted proxy is the first one no client could forge.
func (c clientIPs) of(r *http.Request) netip.Addr {
	peer := remoteAddr(r)
	if !peer.IsValid() || !c.isTrusted(peer) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	var all []string
	for _, h := range hops {
		all = append(all, strings.Split(h, ",")...)
	}
	for i := len(all) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(all[i]))
		if err != nil {
			return peer // a malformed chain: trust nothing beyond the peer
		}
		a = a.Unmap()
		if !c.isTrusted(a) {
			return a
		}
	}
	return peer
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
