package redact

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	const value = "K2abcdef-the-real-key"
	s := Secret(value)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "key", s)
	for name, out := range map[string]string{
		"Sprint":     fmt.Sprint(s),
		"%v":         fmt.Sprintf("%v", s),
		"%#v":        fmt.Sprintf("%#v", s),
		"%+v":        fmt.Sprintf("%+v", struct{ K Secret }{s}),
		"%#v struct": fmt.Sprintf("%#v", struct{ K Secret }{s}),
		"slog":       logged.String(),
	} {
		if strings.Contains(out, value) {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
		if !strings.Contains(out, Redacted) {
			t.Errorf("%s does not show that a secret is set: %s", name, out)
		}
	}
	if s.Reveal() != value {
		t.Error("Reveal lost the value")
	}
	if Secret("").String() != "" {
		t.Error("an empty secret prints as set")
	}
}

func TestURLHidesPasswords(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:hunter2@db:5432/x?sslmode=require", "postgres://u:" + url.PathEscape(Redacted) + "@db:5432/x?sslmode=require"},
		{"postgresql://u@db/x?password=hunter2&sslmode=disable", "postgresql://u@db/x?password=" + url.QueryEscape(Redacted) + "&sslmode=disable"},
		{"postgres://db/x?sslpassword=hunter2", "postgres://db/x?sslpassword=" + url.QueryEscape(Redacted)},
		{"sqlite:////var/lib/audit.db", "sqlite:////var/lib/audit.db"},
		{"postgres://u:hunter2@db/%zz", "postgres://..."},
	} {
		got := URL(tc.in)
		if strings.Contains(got, "hunter2") || got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
