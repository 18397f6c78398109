package mlflow

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The test binary doubles as a fake `mlflow server` (the os/exec test
// pattern): with envFake set it records its arguments and environment and
// serves /health on --host/--port until SIGTERM.
const (
	envFake       = "MLFLOW_SUPERVISOR_TEST_FAKE"
	envFakeRecord = "MLFLOW_SUPERVISOR_TEST_RECORD"
	// envSupervise makes the test binary a gateway: it supervises a fake
	// MLflow and writes the child's PID to the named file once it is ready.
	envSupervise = "MLFLOW_SUPERVISOR_TEST_SUPERVISE"
)

func TestMain(m *testing.M) {
	if os.Getenv(envFake) == "1" {
		os.Exit(runFakeMLflow(os.Args[1:]))
	}
	if path := os.Getenv(envSupervise); path != "" {
		os.Exit(runSupervisingGateway(path))
	}
	os.Exit(m.Run())
}

func runSupervisingGateway(pidFile string) int {
	dir, err := os.MkdirTemp("", "supervise")
	if err != nil {
		return 5
	}
	s, err := New(Options{
		MLflowBin:       os.Args[0],
		AssertionSecret: []byte("supervisor-test-secret-0123456789abcdef"),
		WorkDir:         dir,
		BaseEnv:         []string{envFake + "=1", envFakeRecord + "=" + filepath.Join(dir, "record.json"), "PATH=/usr/bin"},
		Logger:          slog.New(slog.DiscardHandler),
		StartTimeout:    30 * time.Second,
	})
	if err != nil {
		return 6
	}
	go func() { _ = s.Run(context.Background()) }()
	if err := s.WaitReady(context.Background()); err != nil {
		return 7
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(s.PID())), 0o600); err != nil {
		return 8
	}
	select {} // until killed
}

func runFakeMLflow(args []string) int {
	host, port := "", ""
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--host":
			host = args[i+1]
		case "--port":
			port = args[i+1]
		}
	}
	rec, _ := json.Marshal(map[string]any{"args": args, "env": os.Environ(), "started": time.Now().UnixNano()})
	// record, and record.<port> for tests that start several.
	for _, f := range []string{os.Getenv(envFakeRecord), os.Getenv(envFakeRecord) + "." + port} {
		if err := os.WriteFile(f, rec, 0o600); err != nil {
			return 3
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return 4
	}
	os.Stdout.WriteString("fake mlflow listening\n")
	go func() {
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("OK")) }))
	}()
	select {} // until a signal ends the process
}

func fakeOptions(t *testing.T) (Options, string) {
	t.Helper()
	dir := t.TempDir()
	record := filepath.Join(dir, "record.json")
	return Options{
		MLflowBin:       os.Args[0],
		AssertionSecret: []byte("supervisor-test-secret-0123456789abcdef"),
		WorkDir:         filepath.Join(dir, "work"),
		BaseEnv: []string{envFake + "=1", envFakeRecord + "=" + record, "DESCOPE_MANAGEMENT_KEY=do-not-leak", "PATH=/usr/bin", "MLFLOW_AUTH_ADMIN_PASSWORD=stale",
			"HOME=/home/gateway-user", "XDG_CONFIG_HOME=/home/gateway-user/.config", "XDG_CACHE_HOME=/home/gateway-user/.cache",
			"FORWARDED_ALLOW_IPS=10.0.0.1", "UVICORN_PROXY_HEADERS=false"},
		ExtraEnv:     []string{"EXTRA=1"},
		Logger:       slog.New(slog.DiscardHandler),
		MinBackoff:   50 * time.Millisecond,
		MaxBackoff:   200 * time.Millisecond,
		StopTimeout:  5 * time.Second,
		StartTimeout: 30 * time.Second,
	}, record
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// running is alive without zombies: the orphaned child is reparented to
// PID 1, which may be slow to reap it, or never do so in a container.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// TestMLflowDiesWithTheGateway: a gateway killed outright (SIGKILL, OOM) must
// not leave MLflow running on its port, unguarded and holding the database.
func TestMLflowDiesWithTheGateway(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	gw := exec.Command(os.Args[0], "-test.run=^$")
	gw.Env = append(os.Environ(), envSupervise+"="+pidFile)
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	defer gw.Process.Kill()
	var child int
	for deadline := time.Now().Add(30 * time.Second); child == 0; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			child, _ = strconv.Atoi(string(b))
		}
		if time.Now().After(deadline) {
			t.Fatal("the supervising process never reported a ready child")
		}
	}
	if !alive(child) {
		t.Fatal("child not running before the gateway was killed")
	}
	if err := gw.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = gw.Wait()
	for deadline := time.Now().Add(10 * time.Second); running(child); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-child, syscall.SIGKILL)
			t.Fatal("MLflow still running 10 s after its gateway was killed")
		}
	}
}

func TestSupervisorRestartsAndStops(t *testing.T) {
	t.Parallel()
	opts, record := fakeOptions(t)
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()

	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := s.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(wctx); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	checkRecordedLaunch(t, s, record)

	first := s.PID()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for s.Restarts() < 1 || s.PID() == 0 || s.PID() == first {
		if wctx.Err() != nil {
			t.Fatal("child was not restarted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	second := s.PID()

	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run = %v; want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if alive(second) {
		t.Errorf("child %d still alive after Run returned", second)
	}
	if err := s.WaitReady(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("WaitReady after stop = %v; want ErrStopped", err)
	}
	if err := s.Ready(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("Ready after stop = %v; want ErrStopped", err)
	}
}

func checkRecordedLaunch(t *testing.T, s *Supervisor, record string) {
	t.Helper()
	raw, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Args []string `json:"args"`
		Env  []string `json:"env"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s.opts.args(), got.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	env := map[string]string{}
	for _, kv := range got.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	ini := filepath.Join(s.opts.WorkDir, "basic_auth.ini")
	for k, want := range map[string]string{
		"MLFLOW_AUTH_CONFIG_PATH":            ini,
		"MLFLOW_AUTH_ADMIN_USERNAME":         DefaultAdminUsername,
		"MLFLOW_AUTH_ADMIN_PASSWORD":         s.opts.AdminPassword,
		EnvAssertionSecret:                   "supervisor-test-secret-0123456789abcdef",
		"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
		"MLFLOW_BACKEND_STORE_URI":           s.opts.BackendStoreURI,
		"EXTRA":                              "1",
		"PATH":                               "/usr/bin",
		// Its own home, never the gateway user's (issue 15, part 4).
		"HOME":            filepath.Join(s.opts.WorkDir, "home"),
		"XDG_CONFIG_HOME": filepath.Join(s.opts.WorkDir, "home", ".config"),
		"XDG_CACHE_HOME":  filepath.Join(s.opts.WorkDir, "home", ".cache"),
		"XDG_DATA_HOME":   filepath.Join(s.opts.WorkDir, "home", ".local", "share"),
		"XDG_STATE_HOME":  filepath.Join(s.opts.WorkDir, "home", ".local", "state"),
		// uvicorn applies the gateway's X-Forwarded-For (part 3).
		"FORWARDED_ALLOW_IPS":   "127.0.0.1,::1",
		"UVICORN_PROXY_HEADERS": "",
	} {
		if env[k] != want {
			t.Errorf("child env %s = %q; want %q", k, env[k], want)
		}
	}
	if len(env[envFlaskSecretKey]) != 64 {
		t.Errorf("child env %s = %q; want 64 hex characters", envFlaskSecretKey, env[envFlaskSecretKey])
	}
	if _, ok := env["DESCOPE_MANAGEMENT_KEY"]; ok {
		t.Error("DESCOPE_MANAGEMENT_KEY leaked into the child environment")
	}
	data, err := os.ReadFile(ini)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"default_permission = READ", "authorization_function = " + AuthorizationFunction, "admin_username = " + DefaultAdminUsername} {
		if !strings.Contains(string(data), line+"\n") {
			t.Errorf("auth INI lacks %q:\n%s", line, data)
		}
	}
	if info, err := os.Stat(ini); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("auth INI mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}
}

func TestSupervisorStartFailure(t *testing.T) {
	t.Parallel()
	opts, _ := fakeOptions(t)
	opts.MLflowBin = t.TempDir() // exists, but a directory cannot be executed
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "mlflow: start: ") {
		t.Errorf("Run = %v; want start error", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"ok", Options{WorkDir: "w", AssertionSecret: secret}, ""},
		{"no work dir", Options{AssertionSecret: secret}, "WorkDir is required"},
		{"short secret", Options{WorkDir: "w", AssertionSecret: secret[:31]}, "at least 32 bytes"},
		{"nul in secret", Options{WorkDir: "w", AssertionSecret: append([]byte{0}, secret...)}, "NUL"},
		{"short password", Options{WorkDir: "w", AssertionSecret: secret, AdminPassword: "short"}, "AdminPassword"},
		{"bad port", Options{WorkDir: "w", AssertionSecret: secret, Port: 70000}, "out of range"},
		{"bad prefix", Options{WorkDir: "w", AssertionSecret: secret, StaticPrefix: "mlflow/"}, "StaticPrefix"},
		{"bad extra env", Options{WorkDir: "w", AssertionSecret: secret, ExtraEnv: []string{"NOEQUALS"}}, "KEY=VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.opts.validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				o := tt.opts
				if o.Host != "127.0.0.1" || o.AdminUsername != DefaultAdminUsername || len(o.AdminPassword) < MinPasswordLen ||
					o.DefaultPermission != "READ" || !filepath.IsAbs(o.WorkDir) || !strings.HasPrefix(o.AuthDatabaseURI, "sqlite:////") {
					t.Errorf("defaults not applied: %+v", o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "mlflow: ") {
				t.Errorf("err = %v; want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestAuthINI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		dbURI   string
		want    string
		wantErr bool
	}{
		{"plain", "sqlite:////tmp/auth.db", "database_uri = sqlite:////tmp/auth.db\n", false},
		{"percent escaped", "postgresql://u:p%40ss@db/auth", "database_uri = postgresql://u:p%%40ss@db/auth\n", false},
		{"newline refused", "sqlite:///a\n[evil]", "", true},
		{"spaces refused", " sqlite:///a", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := Options{DefaultPermission: "READ", AuthDatabaseURI: tt.dbURI, AdminUsername: "a", AdminPassword: "p"}
			got, err := authINI(&o)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v; want error %v", err, tt.wantErr)
			}
			if err == nil && !strings.Contains(string(got), tt.want) {
				t.Errorf("INI = %q; want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestAllowedHosts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		want string
	}{
		{"127.0.0.1", "127.0.0.1:5000,localhost:5000,[::1]:5000"},
		{"localhost", "localhost:5000,127.0.0.1:5000,[::1]:5000"},
		{"::1", "[::1]:5000,127.0.0.1:5000,localhost:5000"},
		{"10.1.2.3", "10.1.2.3:5000"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			if got := allowedHosts(tt.host, 5000); got != tt.want {
				t.Errorf("allowedHosts(%q) = %q; want %q", tt.host, got, tt.want)
			}
		})
	}
}

func TestInheritEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kv   string
		want bool
	}{
		{"PATH=/usr/bin", true},
		{"AWS_ACCESS_KEY_ID=x", true},
		{"MLFLOW_S3_ENDPOINT_URL=x", true},
		{"DESCOPE_MANAGEMENT_KEY=x", false},
		{"descope_project_id=x", false},
		{"MLFLOW_DESCOPE_ASSERTION_SECRET=x", false},
		{"MLFLOW_DESCOPE_AUTH_SPEEDUPS=off", true},
		{"MLFLOW_AUTH_CONFIG_PATH=x", false},
		{"MLFLOW_FLASK_SERVER_SECRET_KEY=x", false},
		{"_MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN=x", false},
		{"MLFLOW_TRACKING_TOKEN=x", false},
		{"MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE=true", false},
		{"MLFLOW_SERVER_ENABLE_GRAPHQL_AUTH=false", false},
		{"MLFLOW_EXPOSE_PROMETHEUS=/tmp/p", false},
		{"MLFLOW_GUNICORN_OPTS=-b 0.0.0.0:80", false},
		{"MLFLOW_STATIC_PREFIX=/x", false},
		{"MLFLOW_BACKEND_STORE_URI=sqlite:///other.db", false},
		{"HOME=/home/gateway-user", false},
		{"XDG_CONFIG_HOME=/home/gateway-user/.config", false},
		{"XDG_DATA_HOME=/x", false},
		{"XDG_RUNTIME_DIR=/run/user/1000", true},
		{"FORWARDED_ALLOW_IPS=*", false},
		{"UVICORN_PROXY_HEADERS=false", false},
		{"UVICORN_FORWARDED_ALLOW_IPS=10.0.0.0/8", false},
	}
	for _, tt := range tests {
		t.Run(tt.kv, func(t *testing.T) {
			t.Parallel()
			if got := inheritEnv(tt.kv); got != tt.want {
				t.Errorf("inheritEnv(%q) = %v; want %v", tt.kv, got, tt.want)
			}
		})
	}
}

func TestFindBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	venvBin := filepath.Join(dir, ".venv", "bin", "mlflow")
	if err := os.MkdirAll(filepath.Dir(venvBin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(venvBin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, explicit, dir, want string
		wantErr                   bool
	}{
		{"explicit wins", os.Args[0], dir, os.Args[0], false},
		{"explicit missing", filepath.Join(dir, "nope"), dir, "", true},
		{"venv", "", dir, venvBin, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := FindBinary(tt.explicit, tt.dir)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("FindBinary = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	t.Parallel()
	o := Options{Host: "127.0.0.1", Port: 5001, BackendStoreURI: "sqlite:///m.db", ArtifactRoot: "/a",
		Workers: 2, EnableWorkspaces: true, StaticPrefix: "/mlflow", AllowedOrigins: []string{"https://mlflow.example.com"}}
	want := []string{"server", "--app-name", "descope-auth", "--host", "127.0.0.1", "--port", "5001",
		"--serve-artifacts", "--artifacts-destination", "/a",
		"--allowed-hosts", "127.0.0.1:5001,localhost:5001,[::1]:5001",
		"--cors-allowed-origins", "https://mlflow.example.com", "--workers", "2", "--enable-workspaces",
		"--static-prefix", "/mlflow"}
	if diff := cmp.Diff(want, o.args()); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	// The store URI may hold a database password: never on the command
	// line, where ps shows it; the child gets it in its environment.
	pg := Options{Host: "127.0.0.1", Port: 1, BackendStoreURI: "postgresql://u:hunter2@db/x"}
	if strings.Contains(strings.Join(pg.args(), " "), "hunter2") {
		t.Error("the backend store URI is on the command line")
	}
	if !slices.Contains(pg.env(nil, "i", "k"), "MLFLOW_BACKEND_STORE_URI=postgresql://u:hunter2@db/x") {
		t.Error("the backend store URI is not in the child's environment")
	}
	if slices.Contains(Options{Host: "127.0.0.1", Port: 1}.args(), "--cors-allowed-origins") {
		t.Error("--cors-allowed-origins given without AllowedOrigins")
	}
}
