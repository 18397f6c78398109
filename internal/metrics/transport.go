package metrics

import (
	"net/http"
	"strings"
	"time"
)

const jwksEndpoint = "/v2/keys/{project_id}"

// Endpoint returns the label for a Descope API path: the path itself for a
// known endpoint, a template for the key set, "other" for anything else (so
// no identifier can become a label value).
func Endpoint(path string) string {
	switch path {
	case "/v1/auth/refresh", "/v1/auth/tenant/select", "/v1/auth/logout", "/v1/auth/logoutall",
		"/v1/auth/me", "/v1/auth/accesskey/exchange", "/v1/mgmt/accesskey", "/v2/mgmt/user/search",
		"/v1/mgmt/user", "/v1/mgmt/role/all", "/v1/mgmt/tenant/all":
		return path
	}
	if rest, ok := strings.CutPrefix(path, "/v2/keys/"); ok && rest != "" && !strings.Contains(rest, "/") {
		return jwksEndpoint
	}
	return "other"
}

// DescopeTransport wraps base (http.DefaultTransport when nil) so that every
// call to Descope is timed and counted by endpoint, with its errors, 429s
// and JWKS fetches.
func (m *Metrics) DescopeTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &descopeTransport{m: m, base: base, now: time.Now}
}

type descopeTransport struct {
	m    *Metrics
	base http.RoundTripper
	now  func() time.Time
}

func (t *descopeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ep := Endpoint(r.URL.Path)
	start := t.now()
	resp, err := t.base.RoundTrip(r)
	elapsed := t.now().Sub(start).Seconds()
	m := t.m
	if err != nil {
		m.descopeSeconds.WithLabelValues(ep, "error").Observe(elapsed)
		m.descopeErrors.WithLabelValues(ep, "network").Inc()
		if ep == jwksEndpoint {
			m.jwksFetches.WithLabelValues("failure").Inc()
		}
		return nil, err
	}
	m.descopeSeconds.WithLabelValues(ep, codeClass(resp.StatusCode)).Observe(elapsed)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		m.descopeLimited.WithLabelValues(ep).Inc()
	case resp.StatusCode >= 500:
		m.descopeErrors.WithLabelValues(ep, "server").Inc()
	}
	if ep == jwksEndpoint {
		outcome := "success"
		if resp.StatusCode != http.StatusOK {
			outcome = "failure"
		}
		m.jwksFetches.WithLabelValues(outcome).Inc()
	}
	return resp, nil
}
