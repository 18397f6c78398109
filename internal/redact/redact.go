// Package redact holds credentials that never print themselves, so that a
// configuration or a client can be logged, dumped or wrapped in an error
// without leaking one.
package redact

import "log/slog"

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
