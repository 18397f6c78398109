package mlflow

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestInterpreter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name, script string
		want         []string
	}{
		{"absolute", "#!/opt/venv/bin/python3.11\nimport sys\n", []string{"/opt/venv/bin/python3.11"}},
		{"env", "#!/usr/bin/env python3\n", []string{"python3"}},
		{"long path", "#!/bin/sh\n'''exec' \"/a very/long/python\" \"$0\" \"$@\"\n' '''\n", []string{"/a very/long/python"}},
		{"binary", "\x7fELF...", nil},
		{"empty", "", nil},
	} {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, []byte(tc.script), 0o755); err != nil {
			t.Fatal(err)
		}
		got, err := interpreter(path)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s: interpreter = %v; want an error", tc.name, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: interpreter = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

// With the real MLflow: its UI directory holds index.html and static/.
func TestUIDirOfInstalledMLflow(t *testing.T) {
	t.Parallel()
	bin := realMLflow(t)
	dir, err := UIDir(context.Background(), bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "static")); err != nil {
		t.Errorf("UIDir %s: %v", dir, err)
	}
}
