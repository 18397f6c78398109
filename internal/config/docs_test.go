package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsListEveryOption keeps the configuration reference and .env.example
// true: every key the gateway reads must be documented in both.
func TestDocsListEveryOption(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"../../docs/configuration.md", "../../.env.example"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		for _, o := range options() {
			if !strings.Contains(string(data), o.name) {
				t.Errorf("%s does not mention %s", file, o.name)
			}
		}
	}
}

// TestEnvExampleLoads checks that .env.example, filled in only with a project
// ID, is a valid configuration.
func TestEnvExampleLoads(t *testing.T) {
	t.Parallel()
	_, err := Load(Sources{
		Args:     []string{"--config", "../../.env.example"},
		ReadFile: os.ReadFile,
	})
	if err != nil {
		t.Fatalf(".env.example does not load: %v", err)
	}
}
