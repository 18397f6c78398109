package session

import (
	"net/url"
	"strings"
	"unicode"
)

// maxRedirectLen bounds what is echoed back in a Location header.
const maxRedirectLen = 2048

// SafeRedirect returns next if it is a same-origin path, otherwise fallback.
// Only relative paths starting with a single "/" pass: "//host", "/\host",
// absolute URLs, control characters and encodings that decode to any of
// those are refused, since browsers normalise them into cross-origin
// navigations.
func SafeRedirect(next, fallback string) string {
	if ValidRedirect(next) {
		return next
	}
	return fallback
}

// ValidRedirect reports whether next is a safe post-login destination.
func ValidRedirect(next string) bool {
	if next == "" || len(next) > maxRedirectLen || next[0] != '/' {
		return false
	}
	// Check the raw string and up to two levels of percent-decoding: a value
	// may be decoded again by a later hop (the login page, the browser).
	s := next
	for range 3 {
		if !validPath(s) {
			return false
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return false
		}
		if d == s {
			break
		}
		s = d
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	return true
}

func validPath(s string) bool {
	if !strings.HasPrefix(s, "/") {
		return false
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return false
	}
	if strings.ContainsRune(s, '\\') {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Cf) || unicode.Is(unicode.Zs, r) && r != ' ' {
			return false
		}
	}
	return true
}
