package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// fixture is what the template tracking database holds: one experiment with
// one run for reads, writes and artifacts, and many experiments to search.
type fixture struct {
	RW     string   `json:"rw"`
	Run    string   `json:"run"`
	Search []string `json:"search"`
}

// makeTemplateScript creates MLflow's schema with MLflow's own store, the
// read/write experiment and its run, then inserts the search experiments in
// one transaction (5,000 store calls take ~20 s of fsyncs on SQLite).
const makeTemplateScript = `
import json, sqlite3, sys, time
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
db, n = sys.argv[1], int(sys.argv[2])
store = SqlAlchemyStore("sqlite:///" + db, "mlflow-artifacts:/")
rw = store.create_experiment("bench-rw")
run = store.create_run(rw, "bench", int(time.time() * 1000), [], "bench-run")
store.engine.dispose()
con = sqlite3.connect(db)
now = int(time.time() * 1000)
first = int(con.execute("select max(experiment_id) from experiments").fetchone()[0]) + 1
ids = list(range(first, first + n))
con.executemany(
    "insert into experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time, workspace)"
    " values (?, ?, ?, 'active', ?, ?, 'default')",
    [(i, "bench-search-%05d" % i, "mlflow-artifacts:/%d" % i, now, now) for i in ids])
con.commit()
con.close()
print(json.dumps({"rw": rw, "run": run.info.run_id, "search": [str(i) for i in ids]}))
`

func makeTemplate(ctx context.Context, python, dir string, n int) (string, fixture, error) {
	db := filepath.Join(dir, "template.db")
	var fx fixture
	cmd := exec.CommandContext(ctx, python, "-c", makeTemplateScript, db, strconv.Itoa(n))
	cmd.Env = append(os.Environ(), "MLFLOW_DISABLE_TELEMETRY=true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fx, fmt.Errorf("bench: template db: %w\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(out, &fx); err != nil {
		return "", fx, fmt.Errorf("bench: template db output: %w", err)
	}
	return db, fx, nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

// mlflowKind is how an MLflow server authenticates.
type mlflowKind string

const (
	kindPlain      mlflowKind = "plain"       // mlflow server
	kindBasic      mlflowKind = "basic-auth"  // --app-name basic-auth
	kindBasicCache mlflowKind = "basic-cache" // basic-auth with its credential cache on
	kindPlugin     mlflowKind = "descope"     // --app-name descope-auth (our plugin)
)

const (
	adminUser     = "mlflow-descope-auth-admin" // the gateway's default MLFLOW_AUTH_ADMIN_USERNAME
	adminPassword = "bench-admin-password-0001"
	basicUser     = "bench-user"
	basicPassword = "bench-user-password-0001"
)

type mlflowServer struct {
	kind mlflowKind
	url  string
	p    *proc
}

type mlflowOpts struct {
	bin, template, dir string
	workers            int
	secret             []byte // plugin only
}

// startMLflow launches one MLflow the way internal/mlflow's Supervisor does
// (same flags, same job/telemetry settings), with default_permission
// NO_PERMISSIONS for the two authenticated kinds.
func startMLflow(ps *procs, kind mlflowKind, o mlflowOpts) (*mlflowServer, error) {
	dir := filepath.Join(o.dir, "mlflow-"+string(kind))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db := filepath.Join(dir, "mlflow.db")
	if err := copyFile(o.template, db); err != nil {
		return nil, fmt.Errorf("bench: copy template: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := strconv.Itoa(port)
	args := []string{o.bin, "server"}
	if kind != kindPlain {
		args = append(args, "--app-name", map[mlflowKind]string{kindBasic: "basic-auth", kindBasicCache: "basic-auth", kindPlugin: "descope-auth"}[kind])
	}
	args = append(args, "--host", "127.0.0.1", "--port", p,
		"--backend-store-uri", "sqlite:///"+db,
		"--serve-artifacts", "--artifacts-destination", filepath.Join(dir, "artifacts"),
		"--allowed-hosts", "127.0.0.1:"+p+",localhost:"+p,
		"--workers", strconv.Itoa(o.workers))
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false", "MLFLOW_DISABLE_TELEMETRY=true", "PYTHONUNBUFFERED=1",
	}
	if kind != kindPlain {
		ini := "[mlflow]\ndefault_permission = NO_PERMISSIONS\ndatabase_uri = sqlite:///" + filepath.Join(dir, "auth.db") +
			"\nadmin_username = " + adminUser + "\nadmin_password = " + adminPassword + "\n"
		switch kind {
		case kindPlugin:
			ini += "authorization_function = mlflow_descope_auth.auth:authenticate\n"
		case kindBasicCache:
			// MLflow 3.17's credential cache (off by default): a verified
			// password is not hashed again for 10 minutes.
			ini += "auth_cache_ttl_seconds = 600\n"
		}
		iniPath := filepath.Join(dir, "basic_auth.ini")
		if err := os.WriteFile(iniPath, []byte(ini), 0o600); err != nil {
			return nil, err
		}
		env = append(env,
			"MLFLOW_AUTH_CONFIG_PATH="+iniPath,
			"MLFLOW_FLASK_SERVER_SECRET_KEY=bench-flask-secret-key-000000000001",
			"MLFLOW_AUTH_ADMIN_USERNAME="+adminUser,
			"MLFLOW_AUTH_ADMIN_PASSWORD="+adminPassword)
		if kind == kindPlugin {
			env = append(env, "MLFLOW_DESCOPE_ASSERTION_SECRET="+string(o.secret))
			env = append(env, speedupsEnv()...)
		}
	}
	pr, err := ps.start("mlflow-"+string(kind), args, env, dir, filepath.Join(o.dir, "mlflow-"+string(kind)+".log"))
	if err != nil {
		return nil, err
	}
	return &mlflowServer{kind: kind, url: "http://127.0.0.1:" + p, p: pr}, nil
}

// admin sends an admin call to an authenticated MLflow.
type adminCaller func(ctx context.Context, method, path string, body any) error

func callJSON(ctx context.Context, base, method, path string, body any, auth func(*http.Request)) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	auth(req)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("bench: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("bench: %s %s: status %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// grant gives username MANAGE on the read/write experiment (reads, writes,
// artifacts) and READ on readable search experiments spread over the set; the default
// permission is NO_PERMISSIONS, so everything else is hidden.
func grant(ctx context.Context, call adminCaller, username string, fx fixture, readable int) error {
	perm := func(exp, p string) error {
		return call(ctx, http.MethodPost, "/api/3.0/mlflow/users/permissions/grant",
			map[string]string{"username": username, "resource_type": "experiment", "resource_id": exp, "permission": p})
	}
	if err := perm(fx.RW, "MANAGE"); err != nil {
		return err
	}
	n := min(readable, len(fx.Search))
	for i := range n { // spread over the whole set, not the newest page
		if err := perm(fx.Search[i*len(fx.Search)/n], "READ"); err != nil {
			return err
		}
	}
	return nil
}

// speedupsEnv passes the plugin's MLFLOW_DESCOPE_AUTH_SPEEDUPS on from the
// harness's environment (docs/mlflow-plugin.md): `MLFLOW_DESCOPE_AUTH_SPEEDUPS=off
// make bench` measures MLflow's own RBAC behind the plugin.
func speedupsEnv() []string {
	if v, ok := os.LookupEnv("MLFLOW_DESCOPE_AUTH_SPEEDUPS"); ok {
		return []string{"MLFLOW_DESCOPE_AUTH_SPEEDUPS=" + v}
	}
	return nil
}
