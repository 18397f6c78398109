package mlflow

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// findSpec prints where Python would import mlflow from, without importing
// it (importing mlflow takes seconds).
const findSpec = `import importlib.util; s = importlib.util.find_spec("mlflow"); print(s.submodule_search_locations[0])`

// UIDir finds the web UI build directory of the MLflow that bin (the mlflow
// executable) runs: mlflow/server/js/build of the package its Python
// interpreter imports — what `mlflow server` serves at / and
// /static-files/. env is the environment the interpreter runs with (nil:
// the gateway's own, minus what MLflow must not see).
func UIDir(ctx context.Context, bin string, env []string) (string, error) {
	python, err := interpreter(bin)
	if err != nil {
		return "", err
	}
	if env == nil {
		env = os.Environ()
	}
	var kept []string
	for _, kv := range env {
		if inheritEnv(kv) {
			kept = append(kept, kv)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python[0], append(python[1:], "-c", findSpec)...)
	cmd.Env = kept
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("mlflow: find the UI: %s: %w: %s", python[0], err, strings.TrimSpace(stderr.String()))
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "server", "js", "build")
	if info, err := os.Stat(filepath.Join(dir, "index.html")); err != nil || !info.Mode().IsRegular() {
		return "", fmt.Errorf("mlflow: find the UI: no index.html in %s", dir)
	}
	return dir, nil
}

// interpreter reads the Python command from bin's "#!" line (pip writes the
// interpreter's absolute path there; "#!/usr/bin/env python3" also works).
func interpreter(bin string) ([]string, error) {
	f, err := os.Open(bin)
	if err != nil {
		return nil, fmt.Errorf("mlflow: find the UI: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	line, err := br.ReadString('\n')
	if err != nil && line == "" {
		return nil, fmt.Errorf("mlflow: find the UI: read %s: %w", bin, err)
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "#!")
	fields := strings.Fields(rest)
	if !ok || len(fields) == 0 {
		return nil, errors.New("mlflow: find the UI: " + bin + " is not a Python script")
	}
	switch filepath.Base(fields[0]) {
	case "env":
		fields = fields[1:]
	case "sh":
		// pip's launcher for interpreter paths too long for "#!":
		// '''exec' "/very/long/path/python" "$0" "$@"
		next, _ := br.ReadString('\n')
		if _, q, ok := strings.Cut(next, `exec' "`); ok {
			if path, _, ok := strings.Cut(q, `"`); ok {
				fields = []string{path}
			}
		}
	}
	if len(fields) == 0 {
		return nil, errors.New("mlflow: find the UI: " + bin + " names no interpreter")
	}
	return fields, nil
}
