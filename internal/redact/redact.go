// Package redact holds credentials that never print themselves, so that a
// configuration or a client can be logged, dumped or wrapped in an error
// without leaking one.
package redact

import (
	"log/slog"
	"net/url"
	"strings"
)

// Secret is a credential: String, GoString and LogValue redact it.
type Secret string

// Redacted is what a non-empty Secret prints as.
const Redacted = "********"

// Reveal returns the secret's value, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

// String is empty for an empty secret (so "not set" stays visible) and
// Redacted otherwise.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString redacts %#v too.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts in slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// URL returns a database or service URL fit to print: the password of its
// user info and every query parameter that names a password, secret or
// token (libpq's password=, sslpassword=, …) replaced by Redacted. A value
// that does not parse as a URL keeps only its scheme.
func URL(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		if i := strings.Index(v, "://"); i >= 0 {
			return v[:i+3] + "..."
		}
		return Redacted
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Redacted)
		}
	}
	q := u.Query()
	changed := false
	for name := range q {
		n := strings.ToLower(name)
		if strings.Contains(n, "pass") || strings.Contains(n, "secret") || strings.Contains(n, "token") {
			q.Set(name, Redacted)
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}
