package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/metrics"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/upstream"
)

// mlflowUpstream is where MLflow is, how requests reach it, and how to know
// it answers.
type mlflowUpstream struct {
	url *url.URL
	// transport carries every request to MLflow (proxied ones, the admin
	// API): the balancer over the pool's processes, or Deps.MLflowTransport
	// (nil: the gateway's default) in external mode.
	transport http.RoundTripper
	run       func(ctx context.Context) error // nil in external mode
	ready     func(ctx context.Context) error
	pool      *mlflow.Pool       // nil in external mode
	balancer  *upstream.Balancer // nil in external mode
	bin       string             // the mlflow executable; "" in external mode
}

// startUpstream prepares MLflow: in external mode it only knows the URL; by
// default it configures a pool of supervised `mlflow server --app-name
// descope-auth` processes on private loopback ports (started by the
// returned run function) and the balancer in front of them.
func startUpstream(cfg *config.Config, secret []byte, deps Deps, log *slog.Logger) (*mlflowUpstream, error) {
	if cfg.ExternalMLflow() {
		return &mlflowUpstream{url: cfg.MLflowURL, transport: deps.MLflowTransport,
			ready: healthCheck(cfg.MLflowURL, cfg.StaticPrefix, deps.MLflowTransport)}, nil
	}
	bin, err := mlflow.FindBinary(cfg.MLflowBin, ".")
	if err != nil {
		return nil, fmt.Errorf("find mlflow (set MLFLOW_DESCOPE_MLFLOW_BIN or run make venv): %w", err)
	}
	// MLflow runs in its work directory: a relative path would no longer point here.
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, fmt.Errorf("mlflow path: %w", err)
	}
	workDir := filepath.Join(cfg.DataDir, "mlflow")
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	var bal *upstream.Balancer
	pool, err := mlflow.NewPool(mlflow.Options{
		MLflowBin:         bin,
		BackendStoreURI:   cfg.BackendStoreURI,
		ArtifactRoot:      cfg.ArtifactRoot,
		AssertionSecret:   secret,
		AdminUsername:     cfg.AdminUsername,
		DefaultPermission: cfg.DefaultPermission,
		EnableWorkspaces:  cfg.EnableWorkspaces,
		StaticPrefix:      cfg.StaticPrefix,
		Workers:           mlflowWorkers(cfg.MLflowWorkers),
		BaseEnv:           deps.Environ,
		WorkDir:           workDir,
		Home:              cfg.MLflowHome,
		Logger:            log,
		// Called only once Run has started, after bal is set below.
		OnState: func(worker int, up bool) { bal.SetUp(worker, up) },
	})
	if err != nil {
		return nil, err
	}
	base := deps.MLflowTransport
	if base == nil {
		base = upstream.NewTransport()
	}
	bal, err = upstream.NewBalancer(upstream.BalancerOptions{Base: base, Addr: pool.URL().Host, Backends: pool.Addrs()})
	if err != nil {
		return nil, err
	}
	log.Info("mlflow workers", "processes", pool.Size())
	return &mlflowUpstream{url: pool.URL(), transport: bal, run: pool.Run, ready: pool.Ready, pool: pool, balancer: bal, bin: bin}, nil
}

// mlflowWorkers is the number of MLflow processes: MLFLOW_DESCOPE_MLFLOW_WORKERS,
// or 0 for one per core the Go runtime may use (its CPU quota in a
// container), at least two so that one crash leaves one serving, and at most
// eight (each process holds its own copy of MLflow, ~150 MB).
func mlflowWorkers(configured int) int {
	if configured > 0 {
		return configured
	}
	return min(max(runtime.GOMAXPROCS(0), 2), 8)
}

// workerStats reports the pool's processes for the metrics.
func (u *mlflowUpstream) workerStats() []metrics.Worker {
	restarts := u.pool.Restarts()
	out := make([]metrics.Worker, len(restarts))
	for i, s := range u.balancer.Stats() {
		out[i] = metrics.Worker{Up: s.Up, InFlight: s.InFlight, Requests: s.Requests, Failed: s.Failed, Restarts: restarts[i]}
	}
	return out
}

// healthCheck asks MLflow's /health endpoint.
func healthCheck(base *url.URL, prefix string, transport http.RoundTripper) func(ctx context.Context) error {
	client := &http.Client{Timeout: 3 * time.Second, Transport: transport}
	target := base.JoinPath(prefix, "health").String()
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("mlflow health: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("mlflow health: status %d", resp.StatusCode)
		}
		return nil
	}
}
