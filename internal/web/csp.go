package web

import (
	"net/url"
	"slices"
	"strings"
)

// Origins the Descope web component (4.x) and its UI library
// (@descope/web-components-ui 3.x) load from when nothing is self-hosted,
// read from the published packages.
const (
	descopeCDN     = "https://descopecdn.com"      // the component, the UI library
	descopeStatic  = "https://static.descope.com"  // flow files (/pages), UI library fallback, flag images
	descopeStatic2 = "https://static2.descope.com" // flow files, second fallback
	jsdelivr       = "https://cdn.jsdelivr.net"    // UI library, last fallback
	descopeImages  = "https://imgs.descope.com"    // placeholder logos and icons in the UI library
	googleFontsCSS = "https://fonts.googleapis.com"
	googleFonts    = "https://fonts.gstatic.com"
)

// CSPExtra is a third party a flow may use, let into the login page only when
// configured (DESCOPE_LOGIN_CSP_EXTRAS).
type CSPExtra struct {
	Script, Connect, Frame, Style, Img []string
}

// CSPExtras lists the known third parties by their setting name.
var CSPExtras = map[string]CSPExtra{
	"recaptcha": {
		Script:  []string{"https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/"},
		Frame:   []string{"https://www.google.com/recaptcha/", "https://recaptcha.google.com/recaptcha/"},
		Connect: []string{"https://www.google.com/recaptcha/"},
	},
	"hcaptcha": {
		Script:  []string{"https://hcaptcha.com", "https://*.hcaptcha.com"},
		Frame:   []string{"https://hcaptcha.com", "https://*.hcaptcha.com"},
		Connect: []string{"https://hcaptcha.com", "https://*.hcaptcha.com"},
		Style:   []string{"https://hcaptcha.com", "https://*.hcaptcha.com"},
	},
	"google-one-tap": {
		Script:  []string{"https://accounts.google.com/gsi/client"},
		Frame:   []string{"https://accounts.google.com/gsi/"},
		Connect: []string{"https://accounts.google.com/gsi/"},
		Style:   []string{"https://accounts.google.com/gsi/style"},
	},
}

// CSPOptions describe where the login page's web component gets what it needs.
type CSPOptions struct {
	APIBase      string   // Descope API (base-url): flow calls, and /pages unless StaticURL is set
	ComponentURL string   // the @descope/web-component script
	StaticURL    string   // base-static-url; empty: {APIBase}/pages, then Descope's static hosts
	CDNURL       string   // base-cdn-url; empty: Descope's CDN and its fallbacks
	Extras       []string // keys of CSPExtras
}

// LoginCSP is the login page's Content-Security-Policy: what the component
// loads and nothing else. Without self-hosted files the component falls back
// to Descope's public hosts, so those are allowed; with StaticURL and CDNURL
// set, only they are (the component then has no fallback for static files,
// and a UI library fallback to a public CDN would be blocked, as it should).
// Styles need 'unsafe-inline': the component and its UI library inject
// styles into their shadow roots.
func LoginCSP(o CSPOptions) string {
	api := origins(o.APIBase)
	script := append([]string{"'self'"}, origins(o.ComponentURL)...)
	connect := append([]string{"'self'"}, api...)
	style := []string{"'self'", "'unsafe-inline'"}
	img := append([]string{"'self'", "data:", descopeImages}, api...)
	font := []string{"'self'", "data:"}
	var frame []string
	if o.StaticURL != "" {
		connect = append(connect, origins(o.StaticURL)...)
		img = append(img, origins(o.StaticURL)...)
	} else {
		// Flow files: {base-url}/pages first, then Descope's static hosts;
		// themes name Google's web fonts.
		connect = append(connect, descopeStatic, descopeStatic2)
		img = append(img, descopeStatic)
		style = append(style, googleFontsCSS)
		font = append(font, googleFonts)
	}
	if o.CDNURL != "" {
		script = append(script, origins(o.CDNURL)...)
		// The UI library's chunks are fetched with crossorigin=anonymous.
		connect = append(connect, origins(o.CDNURL)...)
	} else {
		script = append(script, descopeCDN, descopeStatic, jsdelivr)
		connect = append(connect, descopeCDN, descopeStatic, jsdelivr)
	}
	for _, name := range o.Extras {
		x := CSPExtras[name]
		script = append(script, x.Script...)
		connect = append(connect, x.Connect...)
		frame = append(frame, x.Frame...)
		style = append(style, x.Style...)
		img = append(img, x.Img...)
	}
	d := []string{
		"default-src 'none'",
		"script-src " + join(script),
		"connect-src " + join(connect),
		"style-src " + join(style),
		"img-src " + join(img),
		"font-src " + join(font),
	}
	if len(frame) > 0 {
		d = append(d, "frame-src "+join(frame))
	}
	d = append(d, "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'")
	return strings.Join(d, "; ")
}

// origins returns the scheme://host of an absolute URL (none for anything
// else), so a path in a configured URL never widens or narrows the policy
// by accident.
func origins(s string) []string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
}

func join(list []string) string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}
