package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badMapping := filepath.Join(dir, "mapping.json")
	os.WriteFile(badMapping, []byte("{\n  \"roles\": [\n    {\"descope_role\": \"x\", \"mlflow_role\": \"y\", \"grants\": [{\"resource_type\": \"experiment\", \"pattern\": \"*\", \"permission\": \"WRITE\"}]}\n  ]\n}\n"), 0o644)
	tests := []struct {
		name     string
		env      []string
		ok       bool
		stdout   []string
		stderr   []string
		notInAny []string
	}{
		{"project ID missing", nil, false, nil, []string{"DESCOPE_PROJECT_ID: is required"}, nil},
		{"valid, secrets masked", []string{"DESCOPE_PROJECT_ID=P2abc123", "DESCOPE_MANAGEMENT_KEY=K2-super-secret"}, true,
			[]string{"DESCOPE_PROJECT_ID=P2abc123", "DESCOPE_MANAGEMENT_KEY=********", "DESCOPE_FLOW_ID=sign-up-or-in"}, []string{"configuration OK"}, []string{"K2-super-secret"}},
		{"one line per problem", []string{"DESCOPE_PROJECT_ID=P2abc123", "DESCOPE_DEFAULT_PERMISSION=WRITE", "DESCOPE_BASE_URI=not a url"}, false, nil,
			[]string{"- DESCOPE_DEFAULT_PERMISSION", "- DESCOPE_BASE_URI"}, nil},
		{"bad mapping file names the line", []string{"DESCOPE_PROJECT_ID=P2abc123", "DESCOPE_ROLE_MAPPING_FILE=" + badMapping}, false, nil,
			[]string{"mapping.json:3:"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := Run(context.Background(), []string{"check-config"}, tt.env, &stdout, &stderr)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v\nstderr:\n%s", err, tt.ok, stderr.String())
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			for _, w := range tt.notInAny {
				if strings.Contains(stdout.String()+stderr.String(), w) {
					t.Errorf("output contains %q", w)
				}
			}
		})
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	err := Run(context.Background(), []string{"serve"}, []string{"DESCOPE_DEFAULT_PERMISSION=ALL"}, &bytes.Buffer{}, &stderr)
	if err == nil {
		t.Fatal("serve started with a bad configuration")
	}
	for _, w := range []string{"DESCOPE_PROJECT_ID", "DESCOPE_DEFAULT_PERMISSION"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %s:\n%s", w, stderr.String())
		}
	}
}

// TestEveryCommandAnswersHelp: --help (and -h) print the command's usage on
// stdout and succeed, before any configuration is read.
func TestEveryCommandAnswersHelp(t *testing.T) {
	t.Parallel()
	for name := range commands {
		for _, flag := range []string{"--help", "-h"} {
			var stdout, stderr bytes.Buffer
			if err := Run(context.Background(), []string{name, flag}, nil, &stdout, &stderr); err != nil {
				t.Errorf("%s %s: %v\n%s", name, flag, err, stderr.String())
			}
			if !strings.Contains(stdout.String(), "usage: mlflow-descope-auth "+name) {
				t.Errorf("%s %s printed %q", name, flag, stdout.String())
			}
		}
	}
	var stdout bytes.Buffer
	if err := Run(context.Background(), []string{"--help"}, nil, &stdout, io.Discard); err != nil || !strings.Contains(stdout.String(), "commands:") {
		t.Errorf("--help: %v %q", err, stdout.String())
	}
}
