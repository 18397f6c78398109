package web

import (
	"strings"
	"testing"
)

// directive returns one directive's sources.
func directive(csp, name string) []string {
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) > 0 && f[0] == name {
			return f[1:]
		}
	}
	return nil
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestLoginCSP(t *testing.T) {
	t.Parallel()
	cloud := CSPOptions{APIBase: "https://api.descope.com", ComponentURL: "https://descopecdn.com/npm/@descope/web-component@4.3.2/dist/index.js"}
	region := CSPOptions{APIBase: "https://api.use1.descope.com", ComponentURL: cloud.ComponentURL}
	custom := CSPOptions{APIBase: "https://auth.example.com", ComponentURL: cloud.ComponentURL}
	selfHosted := CSPOptions{
		APIBase: "https://auth.example.com", ComponentURL: "https://assets.example.com/wc/index.js",
		StaticURL: "https://flows.example.com/pages", CDNURL: "https://assets.example.com",
	}
	withExtras := cloud
	withExtras.Extras = []string{"recaptcha", "google-one-tap"}
	type want struct {
		directive string
		source    string
		present   bool
	}
	tests := []struct {
		name string
		opts CSPOptions
		want []want
	}{
		{"default cloud", cloud, []want{
			{"script-src", "https://descopecdn.com", true},
			{"script-src", "https://static.descope.com", true}, // UI library fallback
			{"script-src", "https://cdn.jsdelivr.net", true},   // last fallback
			{"connect-src", "https://api.descope.com", true},
			{"connect-src", "https://static.descope.com", true},
			{"connect-src", "https://static2.descope.com", true},
			{"img-src", "https://imgs.descope.com", true},
			{"style-src", "https://fonts.googleapis.com", true},
			{"font-src", "https://fonts.gstatic.com", true},
			{"style-src", "'unsafe-inline'", true},
			{"script-src", "'unsafe-inline'", false},
			{"script-src", "https://www.google.com/recaptcha/", false},
			{"script-src", "https://accounts.google.com/gsi/client", false},
			{"frame-src", "https://accounts.google.com/gsi/", false},
			{"default-src", "'none'", true},
			{"frame-ancestors", "'none'", true},
		}},
		{"region", region, []want{
			{"connect-src", "https://api.use1.descope.com", true},
			{"connect-src", "https://api.descope.com", false},
		}},
		{"custom domain", custom, []want{
			{"connect-src", "https://auth.example.com", true},   // API and its /pages
			{"connect-src", "https://static.descope.com", true}, // the component's fallback for flow files
			{"script-src", "https://descopecdn.com", true},
		}},
		{"self-hosted", selfHosted, []want{
			{"script-src", "https://assets.example.com", true},
			{"connect-src", "https://flows.example.com", true},
			{"connect-src", "https://auth.example.com", true},
			{"script-src", "https://descopecdn.com", false},
			{"script-src", "https://cdn.jsdelivr.net", false},
			{"connect-src", "https://static.descope.com", false},
			{"style-src", "https://fonts.googleapis.com", false},
		}},
		{"captcha and one tap when configured", withExtras, []want{
			{"script-src", "https://www.google.com/recaptcha/", true},
			{"frame-src", "https://www.google.com/recaptcha/", true},
			{"script-src", "https://accounts.google.com/gsi/client", true},
			{"frame-src", "https://accounts.google.com/gsi/", true},
			{"script-src", "https://hcaptcha.com", false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			csp := LoginCSP(tt.opts)
			for _, w := range tt.want {
				if got := has(directive(csp, w.directive), w.source); got != w.present {
					t.Errorf("%s has %s = %v; want %v\nCSP: %s", w.directive, w.source, got, w.present, csp)
				}
			}
		})
	}
}

func TestLoginCSPIgnoresNonHTTPURLs(t *testing.T) {
	t.Parallel()
	csp := LoginCSP(CSPOptions{APIBase: "https://api.descope.com", ComponentURL: "javascript:alert(1)", CDNURL: "data:x"})
	if strings.Contains(csp, "javascript") || strings.Contains(csp, "data:x") {
		t.Errorf("CSP carries a non-http source: %s", csp)
	}
}
