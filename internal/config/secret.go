package config

import "log/slog"

// Secret holds a credential. It never prints itself: String, GoString and
// LogValue all redact, so a Config can be logged or dumped safely.
type Secret string

const redacted = "********"

// Reveal returns the secret's value, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts %#v too.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts in slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
