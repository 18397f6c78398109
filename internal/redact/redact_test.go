package redact

import (
	"bytes"
	"fmt"
	"log/slog"
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
