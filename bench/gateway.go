package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

const (
	projectID   = "P2BenchProject00000000000001"
	benchUserID = "U2benchuser0001"
	// benchUsername is the MLflow user behind benchUserID: the gateway uses
	// the Descope user ID as the MLflow username.
	benchUsername = benchUserID
)

type gatewayServer struct {
	url string
	p   *proc
	log string // its log file
}

// startGateway runs bin/mlflow-descope-auth serve in external mode in front
// of upstream, with its default settings otherwise (JSON access log to its
// log file, audit store in its data dir, metrics listener on).
func startGateway(ps *procs, bin, name, dir string, sim *descopesim.Server, upstream string, secret []byte) (*gatewayServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	mport, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, name)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DESCOPE_PROJECT_ID=" + sim.ProjectID(),
		"DESCOPE_BASE_URI=" + sim.URL(),
		"DESCOPE_MANAGEMENT_KEY=" + sim.ManagementKey(),
		"DESCOPE_SYNC_INTERVAL=0",
		"MLFLOW_DESCOPE_ASSERTION_SECRET=" + string(secret),
		"MLFLOW_DESCOPE_METRICS_ADDR=127.0.0.1:" + strconv.Itoa(mport),
	}
	args := []string{bin, "serve", "--port", strconv.Itoa(port), "--data-dir", data, "--mlflow-url", upstream}
	logPath := filepath.Join(dir, name+".log")
	p, err := ps.start(name, args, env, dir, logPath)
	if err != nil {
		return nil, err
	}
	return &gatewayServer{url: "http://127.0.0.1:" + strconv.Itoa(port), p: p, log: logPath}, nil
}

// launcherOpts are the gateway's settings when it runs MLflow itself.
type launcherOpts struct {
	mlflowBin, trackingDB, uiCache string
	workers                        int
	secret                         []byte
}

// startLauncher runs bin/mlflow-descope-auth serve in launcher mode, as an
// operator would: it starts and balances its own pool of MLflow processes
// (with our plugin) over a copy of the template tracking database, serves
// MLflow's UI files itself, with default permission NO_PERMISSIONS. The
// assertion secret is given so that the harness can make its grants in
// MLflow directly.
func startLauncher(ps *procs, bin, name, dir string, sim *descopesim.Server, o launcherOpts) (*gatewayServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	mport, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, name)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DESCOPE_PROJECT_ID=" + sim.ProjectID(),
		"DESCOPE_BASE_URI=" + sim.URL(),
		"DESCOPE_MANAGEMENT_KEY=" + sim.ManagementKey(),
		"DESCOPE_SYNC_INTERVAL=0",
		"DESCOPE_DEFAULT_PERMISSION=NO_PERMISSIONS",
		"MLFLOW_DESCOPE_ASSERTION_SECRET=" + string(o.secret),
		"MLFLOW_DESCOPE_METRICS_ADDR=127.0.0.1:" + strconv.Itoa(mport),
		"MLFLOW_DESCOPE_MLFLOW_BIN=" + o.mlflowBin,
		"MLFLOW_DESCOPE_MLFLOW_WORKERS=" + strconv.Itoa(o.workers),
		"MLFLOW_DESCOPE_UI_CACHE_DIR=" + o.uiCache,
		"MLFLOW_BACKEND_STORE_URI=sqlite:///" + o.trackingDB,
		"MLFLOW_ARTIFACT_ROOT=" + filepath.Join(data, "artifacts"),
	}
	env = append(env, speedupsEnv()...) // the gateway passes it on to its MLflow processes
	args := []string{bin, "serve", "--port", strconv.Itoa(port), "--data-dir", data}
	logPath := filepath.Join(dir, name+".log")
	p, err := ps.start(name, args, env, dir, logPath)
	if err != nil {
		return nil, err
	}
	return &gatewayServer{url: "http://127.0.0.1:" + strconv.Itoa(port), p: p, log: logPath}, nil
}

// logLines returns the gateway's JSON log lines whose msg is msg.
func (g *gatewayServer) logLines(msg string) []map[string]any {
	b, err := os.ReadFile(g.log)
	if err != nil {
		return nil
	}
	var out []map[string]any
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `"msg":"`+msg+`"`) {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// waitWorkers waits until every one of the launcher's n MLflow processes
// has answered once, and returns their URLs by worker index.
func (g *gatewayServer) waitWorkers(ctx context.Context, n int, within time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		urls := make([]string, n)
		for _, m := range g.logLines("mlflow started") {
			if w, ok := m["worker"].(float64); ok && int(w) < n {
				urls[int(w)], _ = m["url"].(string)
			}
		}
		ready := map[int]bool{}
		for _, m := range g.logLines("mlflow ready") {
			if w, ok := m["worker"].(float64); ok {
				ready[int(w)] = true
			}
		}
		if len(ready) >= n {
			return urls, nil
		}
		if err := g.p.exited(); err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bench: %s: %d of %d MLflow workers ready: %w", g.p.name, len(ready), n, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitUICompressed waits for the gateway's "ui files compressed" line.
func (g *gatewayServer) waitUICompressed(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for len(g.logLines("ui files compressed")) == 0 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("bench: %s did not finish compressing the UI within %s", g.p.name, within)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return nil
}

// signIn posts a minted session to /auth/session like the login page does
// and returns the Cookie header value the gateway set.
func signIn(ctx context.Context, gwURL string, sim *descopesim.Server) (string, error) {
	// The session outlives the run: the load clients resend the same Cookie
	// header and never store a refreshed one, so with the simulator's
	// 10-minute default every request after that would be a refresh at
	// Descope (the gateway-alone cell measured 1,145 µs of CPU per request
	// instead of ~110 that way).
	sess, refresh, err := sim.MintSession(benchUserID, descopesim.MintOptions{SessionTTL: 3 * time.Hour})
	if err != nil {
		return "", fmt.Errorf("bench: mint: %w", err)
	}
	body, _ := json.Marshal(map[string]string{"sessionJwt": sess, "refreshJwt": refresh, "next": "/"})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gwURL+"/auth/session", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", gwURL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("bench: sign in: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("bench: sign in: status %d: %s", resp.StatusCode, b)
	}
	var parts []string
	for _, c := range resp.Cookies() {
		if c.Value != "" {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("bench: sign in set no cookies")
	}
	return strings.Join(parts, "; "), nil
}

// newSim starts the Descope simulator in-process with the bench user and an
// access key bound to it.
func newSim() (*descopesim.Server, string, error) {
	sim, err := descopesim.New(descopesim.Options{ProjectID: projectID})
	if err != nil {
		return nil, "", fmt.Errorf("bench: descopesim: %w", err)
	}
	u := descopesim.User{ID: benchUserID, LoginIDs: []string{"bench@example.com"}, Email: "bench@example.com", Name: "Bench"}
	if err := sim.CreateUser(u); err != nil {
		sim.Close()
		return nil, "", fmt.Errorf("bench: sim user: %w", err)
	}
	_, secret, err := sim.CreateAccessKey(descopesim.AccessKeyOptions{Name: "bench", BoundUserID: benchUserID, TTL: time.Hour})
	if err != nil {
		sim.Close()
		return nil, "", fmt.Errorf("bench: access key: %w", err)
	}
	return sim, secret, nil
}

// serveTrivial is the "upstream" subcommand: a tiny HTTP server that answers
// every request 200 with a small JSON body (and reads and discards request
// bodies), so a gateway in front of it shows only its own cost. It answers
// the provisioner's user lookup with an existing non-admin user, and serves
// GETs under the artifact path as a stream of size bytes.
func serveTrivial(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("bench upstream: want the listen address and the artifact size in bytes")
	}
	size, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		return fmt.Errorf("bench upstream: size: %w", err)
	}
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	user := []byte(`{"user":{"id":2,"username":"` + benchUsername + `","is_admin":false,"roles":[]}}`)
	body := []byte(`{"experiment":{"experiment_id":"1","name":"bench-rw","artifact_location":"mlflow-artifacts:/1","lifecycle_stage":"active"}}`)
	chunk := make([]byte, 64<<10)
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/users/get"):
			_, _ = w.Write(user)
		case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/mlflow-artifacts/artifacts/"):
			n := size
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
			for n > 0 {
				k := min(n, int64(len(chunk)))
				if _, err := w.Write(chunk[:k]); err != nil {
					return
				}
				n -= k
			}
		default:
			_, _ = w.Write(body)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(stdout, "listening on", ln.Addr())
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
