package mlflow

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
)

// AppName is the mlflow.app entry point of the python/ plugin.
const AppName = "descope-auth"

// AuthorizationFunction is the INI value that selects the plugin's verifier.
const AuthorizationFunction = "mlflow_descope_auth.auth:authenticate"

// DefaultAdminUsername is MLflow's bootstrap admin, the user the gateway acts
// as for provisioning. No Descope identity may map to it.
const DefaultAdminUsername = "mlflow-descope-auth-admin"

// Environment variables the plugin and MLflow read.
const (
	EnvAssertionSecret     = "MLFLOW_DESCOPE_ASSERTION_SECRET"
	EnvAssertionSecretFile = "MLFLOW_DESCOPE_ASSERTION_SECRET_FILE"
	envAuthConfigPath      = "MLFLOW_AUTH_CONFIG_PATH"
	envFlaskSecretKey      = "MLFLOW_FLASK_SERVER_SECRET_KEY"
	envAdminUsername       = "MLFLOW_AUTH_ADMIN_USERNAME"
	envAdminPassword       = "MLFLOW_AUTH_ADMIN_PASSWORD"
	envJobExecution        = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
	envBackendStoreURI     = "MLFLOW_BACKEND_STORE_URI"
	envDisableTelemetry    = "MLFLOW_DISABLE_TELEMETRY"
)

// FindBinary resolves the mlflow executable: explicit if set (it must exist),
// else .venv/bin/mlflow under dir if it exists, else "mlflow" on PATH.
func FindBinary(explicit, dir string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("mlflow: binary: %w", err)
		}
		return explicit, nil
	}
	venv := filepath.Join(dir, ".venv", "bin", "mlflow")
	if info, err := os.Stat(venv); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
		return venv, nil
	}
	p, err := exec.LookPath("mlflow")
	if err != nil {
		return "", fmt.Errorf("mlflow: binary: not given, no .venv/bin/mlflow in %s, none on PATH: %w", dir, err)
	}
	return p, nil
}

// freePort asks the kernel for a free TCP port on host.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("mlflow: pick free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// iniValue quotes nothing but escapes configparser's interpolation character
// and refuses what an INI line cannot hold.
func iniValue(key, v string) (string, error) {
	if strings.ContainsAny(v, "\r\n\x00") || strings.TrimSpace(v) != v {
		return "", fmt.Errorf("mlflow: auth config: %s must be one line without surrounding spaces", key)
	}
	return strings.ReplaceAll(v, "%", "%%"), nil
}

// authINI renders the basic-auth config file MLflow reads from
// MLFLOW_AUTH_CONFIG_PATH at import time.
func authINI(o *Options) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Written by mlflow-descope-auth on every start; edits are overwritten.\n[mlflow]\n")
	for _, kv := range [][2]string{
		{"default_permission", o.DefaultPermission},
		{"database_uri", o.AuthDatabaseURI},
		{"admin_username", o.AdminUsername},
		{"admin_password", o.AdminPassword},
		{"authorization_function", AuthorizationFunction},
	} {
		v, err := iniValue(kv[0], kv[1])
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%s = %s\n", kv[0], v)
	}
	return b.Bytes(), nil
}

func writeAuthINI(o *Options) (string, error) {
	data, err := authINI(o)
	if err != nil {
		return "", err
	}
	path := filepath.Join(o.WorkDir, "basic_auth.ini")
	tmp, err := os.CreateTemp(o.WorkDir, ".basic_auth-*.ini")
	if err != nil {
		return "", fmt.Errorf("mlflow: auth config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", fmt.Errorf("mlflow: auth config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("mlflow: auth config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("mlflow: auth config: %w", err)
	}
	return path, nil
}

// allowedHosts is the exact Host header values MLflow accepts: the gateway
// sends the child's host:port, so nothing wider than loopback is allowed.
func allowedHosts(host string, port int) string {
	p := strconv.Itoa(port)
	hosts := []string{net.JoinHostPort(host, p)}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		for _, h := range []string{"127.0.0.1", "localhost", "::1"} {
			if h != host {
				hosts = append(hosts, net.JoinHostPort(h, p))
			}
		}
	}
	return strings.Join(hosts, ",")
}

// args is the mlflow command line after the binary.
func (o Options) args() []string {
	a := []string{
		"server",
		"--app-name", AppName,
		"--host", o.Host,
		"--port", strconv.Itoa(o.Port),
		// --backend-store-uri comes from the environment (env): on the
		// command line a database password would show in ps.
		"--serve-artifacts",
		"--artifacts-destination", o.ArtifactRoot,
		"--allowed-hosts", allowedHosts(o.Host, o.Port),
	}
	if len(o.AllowedOrigins) > 0 {
		a = append(a, "--cors-allowed-origins", strings.Join(o.AllowedOrigins, ","))
	}
	if o.Workers > 0 {
		a = append(a, "--workers", strconv.Itoa(o.Workers))
	}
	if o.EnableWorkspaces {
		a = append(a, "--enable-workspaces")
	}
	if o.StaticPrefix != "" {
		a = append(a, "--static-prefix", o.StaticPrefix)
	}
	return a
}

// inheritEnv reports whether a variable of the gateway's own environment may
// reach MLflow: nothing of Descope, and nothing the Supervisor sets itself.
func inheritEnv(kv string) bool {
	name, _, _ := strings.Cut(kv, "=")
	upper := strings.ToUpper(name)
	switch {
	case upper == PluginSpeedupsEnv:
		// The plugin's own switch (docs/mlflow-plugin.md): the operator's to set.
		return true
	case strings.HasPrefix(upper, "DESCOPE_"),
		strings.HasPrefix(upper, "MLFLOW_DESCOPE_"),
		strings.HasPrefix(upper, "MLFLOW_AUTH_"),
		strings.HasPrefix(upper, "_MLFLOW_"),
		upper == envFlaskSecretKey,
		upper == "MLFLOW_TRACKING_TOKEN",
		upper == "MLFLOW_TRACKING_PASSWORD",
		// The server's internal settings: the CLI sets those it needs from
		// its flags; inherited ones could turn off its security middleware,
		// open CORS or GraphQL without auth.
		strings.HasPrefix(upper, "MLFLOW_SERVER_"),
		// With it set, MLflow serves its own /metrics to any signed-in user.
		upper == "PROMETHEUS_MULTIPROC_DIR",
		// Where MLflow writes: the Supervisor gives it a home of its own.
		upper == "HOME", strings.HasPrefix(upper, "XDG_") && strings.HasSuffix(upper, "_HOME"),
		// uvicorn's trust in X-Forwarded-For: its CLI reads UVICORN_* (e.g.
		// UVICORN_PROXY_HEADERS=false) and FORWARDED_ALLOW_IPS. Without that
		// trust MLflow sees the gateway's loopback address as the client and
		// takes every user for a local one (see env).
		upper == "FORWARDED_ALLOW_IPS", strings.HasPrefix(upper, "UVICORN_"):
		return false
	}
	// `mlflow server` options read from the environment that would undo the
	// Supervisor's flags: its own /metrics, extra listeners (gunicorn -b),
	// another prefix, an artifacts-only server.
	return !slices.Contains(serverOptionEnv, upper)
}

// PluginSpeedupsEnv turns the plugin's authorization cache and SQL search
// filter off (or one of them); read by the plugin in MLflow, passed through.
const PluginSpeedupsEnv = "MLFLOW_DESCOPE_AUTH_SPEEDUPS"

// serverOptionEnv are the environment variables behind `mlflow server`
// options the gateway decides itself.
var serverOptionEnv = []string{
	"MLFLOW_EXPOSE_PROMETHEUS", "MLFLOW_GUNICORN_OPTS", "MLFLOW_UVICORN_OPTS", "MLFLOW_STATIC_PREFIX",
	"MLFLOW_ARTIFACTS_ONLY", "MLFLOW_BACKEND_STORE_URI", "MLFLOW_ARTIFACTS_DESTINATION",
}

// homeFiles are files and directories in the gateway user's home that the
// child may need to read once its HOME is elsewhere, with the variable that
// names each for the library reading it: cloud and database credentials for
// the artifact and backend stores, and the user site of a `pip install
// --user` MLflow.
var homeFiles = []struct{ env, rel string }{
	{"AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"},
	{"AWS_CONFIG_FILE", ".aws/config"},
	{"CLOUDSDK_CONFIG", ".config/gcloud"},
	{"AZURE_CONFIG_DIR", ".azure"},
	{"PGPASSFILE", ".pgpass"},
	{"PGSERVICEFILE", ".pg_service.conf"},
	{"DATABRICKS_CONFIG_FILE", ".databrickscfg"},
	{"NETRC", ".netrc"},
	{"PYTHONUSERBASE", ".local"},
}

// homeReferences points the child at the gateway user's homeFiles that
// exist (exists is os.Stat's verdict), unless the base environment already
// names them: MLflow gets a home of its own to write in without losing the
// credentials an operator keeps in theirs.
func homeReferences(base []string, exists func(string) bool) []string {
	set := map[string]string{}
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		set[k] = v
	}
	home := set["HOME"]
	if home == "" || !filepath.IsAbs(home) {
		return nil
	}
	if exists == nil {
		exists = func(p string) bool { _, err := os.Stat(p); return err == nil }
	}
	var out []string
	for _, f := range homeFiles {
		if _, ok := set[f.env]; ok {
			continue
		}
		if p := filepath.Join(home, filepath.FromSlash(f.rel)); exists(p) {
			out = append(out, f.env+"="+p)
		}
	}
	return out
}

// env is the child's environment: the inherited base minus secrets, then the
// Supervisor's settings, then ExtraEnv.
func (o *Options) env(base []string, iniPath, flaskKey string) []string {
	env := make([]string, 0, len(base)+16)
	for _, kv := range base {
		if inheritEnv(kv) {
			env = append(env, kv)
		}
	}
	env = append(env, homeReferences(base, o.exists)...)
	env = append(env,
		envAuthConfigPath+"="+iniPath,
		envFlaskSecretKey+"="+flaskKey,
		envAdminUsername+"="+o.AdminUsername,
		envAdminPassword+"="+o.AdminPassword,
		EnvAssertionSecret+"="+string(o.AssertionSecret),
		envJobExecution+"=false",
		envBackendStoreURI+"="+o.BackendStoreURI,
		envDisableTelemetry+"=true",
		"PYTHONUNBUFFERED=1",
		"HOME="+o.Home,
		"XDG_CONFIG_HOME="+filepath.Join(o.Home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(o.Home, ".cache"),
		"XDG_DATA_HOME="+filepath.Join(o.Home, ".local", "share"),
		"XDG_STATE_HOME="+filepath.Join(o.Home, ".local", "state"),
		// The gateway connects from loopback and sends X-Forwarded-For with
		// the client it saw (never a loopback one): uvicorn must apply it,
		// or MLflow's assistant would judge every request local.
		"FORWARDED_ALLOW_IPS=127.0.0.1,::1",
	)
	return append(env, o.ExtraEnv...)
}

// validate checks the options and fills in defaults; it does no I/O.
func (o *Options) validate() error {
	var errs []error
	if o.WorkDir == "" {
		errs = append(errs, errors.New("mlflow: options: WorkDir is required"))
	} else if abs, err := filepath.Abs(o.WorkDir); err != nil {
		errs = append(errs, fmt.Errorf("mlflow: options: WorkDir: %w", err))
	} else {
		o.WorkDir = abs
	}
	if len(o.AssertionSecret) < assertion.MinSecretLen {
		errs = append(errs, fmt.Errorf("mlflow: options: AssertionSecret must be at least %d bytes", assertion.MinSecretLen))
	}
	if bytes.IndexByte(o.AssertionSecret, 0) >= 0 {
		errs = append(errs, errors.New("mlflow: options: AssertionSecret cannot contain NUL bytes (it travels in an environment variable)"))
	}
	if o.AdminPassword != "" && len(o.AdminPassword) < MinPasswordLen {
		errs = append(errs, fmt.Errorf("mlflow: options: AdminPassword must be at least %d characters", MinPasswordLen))
	}
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("mlflow: options: Port %d out of range", o.Port))
	}
	if o.StaticPrefix != "" && (!strings.HasPrefix(o.StaticPrefix, "/") || strings.HasSuffix(o.StaticPrefix, "/")) {
		errs = append(errs, errors.New("mlflow: options: StaticPrefix must start with / and not end with /"))
	}
	for _, kv := range o.ExtraEnv {
		if !strings.Contains(kv, "=") {
			errs = append(errs, fmt.Errorf("mlflow: options: ExtraEnv entry %q is not KEY=VALUE", kv))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.AdminUsername == "" {
		o.AdminUsername = DefaultAdminUsername
	}
	if o.AdminPassword == "" {
		o.AdminPassword = randomHex(24)
	}
	if o.DefaultPermission == "" {
		o.DefaultPermission = "READ"
	}
	if o.AuthDatabaseURI == "" {
		o.AuthDatabaseURI = "sqlite:///" + filepath.Join(o.WorkDir, "auth.db")
	}
	if o.BackendStoreURI == "" {
		o.BackendStoreURI = "sqlite:///" + filepath.Join(o.WorkDir, "mlflow.db")
	}
	if o.ArtifactRoot == "" {
		o.ArtifactRoot = filepath.Join(o.WorkDir, "mlartifacts")
	}
	if o.Home == "" {
		o.Home = filepath.Join(o.WorkDir, "home")
	} else if abs, err := filepath.Abs(o.Home); err == nil {
		o.Home = abs
	}
	return nil
}
