package classify

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newClassifier(tb testing.TB) *Classifier {
	tb.Helper()
	c, err := New(Options{MaxJSONBody: 1 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

var samplePathParams = regexp.MustCompile(`<path:\w+>|\{\w+:path\}|<\w+>|\{\w+\}`)

// concretePath fills a route pattern's parameters with sample values.
func concretePath(pattern string) string {
	return samplePathParams.ReplaceAllStringFunc(pattern, func(p string) string {
		if strings.Contains(p, "path") {
			return "dir/sample-file.txt"
		}
		return "sample-1"
	})
}

// TestTableKnowsEveryMLflowRoute fails when MLflow serves a route (as dumped
// by testdata/dump_routes.py) that the table does not classify.
func TestTableKnowsEveryMLflowRoute(t *testing.T) {
	t.Parallel()
	c := newClassifier(t)
	d := readDump(t)
	asgi := map[string]bool{} // "METHOD pattern-with-params-erased" served by FastAPI
	for _, r := range d.Routes {
		if r.Source == "fastapi" {
			for _, m := range r.Methods {
				asgi[m+" "+concretePath(r.Path)] = true
			}
		}
	}
	for _, r := range d.Routes {
		if r.Source == "fastapi-mount" {
			continue
		}
		for _, m := range r.Methods {
			path := concretePath(r.Path)
			rt, err := c.Route(m, path)
			if err != nil {
				t.Errorf("%s %s: %v", m, r.Path, err)
				continue
			}
			shadowed := r.Source == "flask" && asgi[m+" "+path]
			if !rt.Known || rt.Family == FamilyUnknown || (rt.Pattern != r.Path && !shadowed) {
				t.Errorf("%s %s (%s): got known=%v family=%s pattern=%q", m, r.Path, r.Endpoint, rt.Known, rt.Family, rt.Pattern)
			}
			if rt.RPC == "" && rt.Family != FamilyStatic && rt.Family != FamilyUI {
				t.Errorf("%s %s: no RPC name", m, r.Path)
			}
		}
	}
}

// TestTableHasNoStaleRoutes fails on table rows MLflow no longer serves.
func TestTableHasNoStaleRoutes(t *testing.T) {
	t.Parallel()
	d := readDump(t)
	served := map[string]bool{}
	for _, r := range d.Routes {
		for _, m := range r.Methods {
			served[m+" "+r.Path] = true
		}
	}
	syn := map[string]bool{}
	for _, s := range synthetic {
		syn[s.pattern] = true
	}
	for _, s := range routeTable {
		if syn[s.pattern] {
			continue
		}
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if s.methods&methodBit(m) != 0 && !served[m+" "+s.pattern] {
				t.Errorf("table row %s %s is not served by MLflow %s", m, s.pattern, d.Version)
			}
		}
	}
	if mlflowVersion != d.Version {
		t.Errorf("table generated from MLflow %s, dump is %s", mlflowVersion, d.Version)
	}
}

// mlflowPython finds a python with MLflow: $MLFLOW_PYTHON, else the repository's .venv.
func mlflowPython(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("MLFLOW_PYTHON"); p != "" {
		return p
	}
	p, err := filepath.Abs(filepath.Join("..", "..", ".venv", "bin", "python"))
	if err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	tb.Skip("no python with MLflow: set MLFLOW_PYTHON or create .venv (make venv)")
	return ""
}

// TestDumpMatchesInstalledMLflow re-runs dump_routes.py against the installed
// MLflow and fails when its routes differ from the committed dump: an MLflow
// upgrade must regenerate testdata/mlflow-routes.json and table_gen.go.
func TestDumpMatchesInstalledMLflow(t *testing.T) {
	if testing.Short() {
		t.Skip("imports MLflow")
	}
	py := mlflowPython(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "dump_routes.py")
	cmd.Dir = "testdata"
	cmd.Env = append(os.Environ(), "MLFLOW_TRACKING_URI=", "_MLFLOW_STATIC_PREFIX=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "No module named 'mlflow'") {
			t.Skipf("%s has no MLflow", py)
		}
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
			t.Skipf("dump_routes.py: %s", strings.TrimSpace(stderr.String()))
		}
		t.Fatalf("dump_routes.py: %v\n%s", err, stderr.String())
	}
	var got, want any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("dump_routes.py output: %v", err)
	}
	var installed struct {
		Version string `json:"mlflow_version"`
	}
	if err := json.Unmarshal(out, &installed); err != nil {
		t.Fatalf("dump_routes.py output: %v", err)
	}
	// An older supported release is compared with its own committed dump
	// (releases_test.go proves the table covers it).
	committed := committedDumpFor(t, installed.Version)
	if err := json.Unmarshal(committed, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("installed MLflow %s routes differ from the committed dump (-committed +installed):\n%s\n"+
			"regenerate: (cd internal/classify/testdata && python dump_routes.py > mlflow-routes.json) && "+
			"go test ./internal/classify -run TestGeneratedTableUpToDate -update (for an older release: releases/mlflow-VERSION.json)", installed.Version, diff)
	}
}
