package app_test

// Issue 15, part 4: the MLflow child wrote into the gateway user's home
// (~/.mlflow/assistant/…). In launcher mode it now gets a HOME, and XDG base
// directories, under the gateway's data directory unless the operator names
// another (MLFLOW_DESCOPE_MLFLOW_HOME).

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMLflowChildHasItsOwnHome(t *testing.T) {
	// The gateway user's home, as the environment names it, and where XDG
	// points for that user.
	userHome := t.TempDir()
	e := newSecEnv(t,
		"MLFLOW_DESCOPE_ASSERTION_SECRET="+secAssertionSecret,
		"HOME="+userHome,
		"XDG_CONFIG_HOME="+filepath.Join(userHome, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(userHome, ".cache"),
		"XDG_DATA_HOME="+filepath.Join(userHome, ".local", "share"),
	)
	d := e.seed() // experiments, runs, a model, an artifact
	for _, target := range []string{"/", "/ajax-api/3.0/mlflow/assistant/config", "/ajax-api/3.0/mlflow/assistant/providers",
		"/api/2.0/mlflow/artifacts/list?run_id=" + d.runID} {
		if r := e.api(e.alice.session, "GET", target, nil); r.status != http.StatusOK {
			t.Errorf("GET %s: %s", target, r)
		}
	}
	// MLflow's local operator configures the assistant: MLflow writes
	// ~/.mlflow/assistant/config.json of its own HOME.
	e.must(e.root.session, "GET", "/api/2.0/mlflow/users/current", nil)
	if r := newLocalOperator(t, e, e.root.login).do("PUT", assistantConfig, []byte(`{"projects":{}}`)); r.status != http.StatusOK {
		t.Fatalf("local operator: %s", r)
	}
	e.st.stop(t)

	var written []string
	_ = filepath.WalkDir(userHome, func(p string, de fs.DirEntry, err error) error {
		if err == nil && p != userHome {
			written = append(written, strings.TrimPrefix(p, userHome))
		}
		return nil
	})
	if len(written) > 0 {
		t.Errorf("MLflow wrote into the gateway user's home: %v", written)
	}
	mlflowHome := filepath.Join(e.st.dir, "data", "mlflow", "home")
	if _, err := os.Stat(filepath.Join(mlflowHome, ".mlflow", "assistant", "config.json")); err != nil {
		t.Errorf("the assistant's config is not in MLflow's own home %s: %v", mlflowHome, err)
	}
	if info, err := os.Stat(mlflowHome); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("MLflow's home: %v, %v; want a 0700 directory", info, err)
	}
}
