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
	p, err := ps.start(name, args, env, dir, filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	return &gatewayServer{url: "http://127.0.0.1:" + strconv.Itoa(port), p: p}, nil
}

// signIn posts a minted session to /auth/session like the login page does
// and returns the Cookie header value the gateway set.
func signIn(ctx context.Context, gwURL string, sim *descopesim.Server) (string, error) {
	sess, refresh, err := sim.MintSession(benchUserID, descopesim.MintOptions{})
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
