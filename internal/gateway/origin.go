package gateway

import (
	"net/http"
	"net/url"
	"slices"
)

func originOf(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// originFor is the gateway's origin as the client sees it: the configured
// public URL or, without one, whichever of the local origins the request's
// Host names (the first one otherwise).
func (h *handler) originFor(r *http.Request) string {
	if h.origin != "" {
		return h.origin
	}
	o := "http://" + r.Host
	if slices.Contains(h.opts.LocalOrigins, o) {
		return o
	}
	if len(h.opts.LocalOrigins) > 0 {
		return h.opts.LocalOrigins[0]
	}
	return "http://localhost"
}

// sameOrigin is the cross-site check for cookie-setting and cookie-authenticated
// state changes: the Origin header must be the gateway's own origin; without
// one, Sec-Fetch-Site must say same-origin. A request with neither is refused.
func (h *handler) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return o == h.originFor(r)
	}
	return r.Header.Get("Sec-Fetch-Site") == "same-origin"
}
