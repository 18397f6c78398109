package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
)

// upstream is where MLflow is and how to know it answers.
type upstream struct {
	url   *url.URL
	run   func(ctx context.Context) error // nil in external mode
	ready func(ctx context.Context) error
	sup   *mlflow.Supervisor // nil in external mode
}

// startUpstream prepares MLflow: in external mode it only knows the URL; by
// default it configures a supervised `mlflow server --app-name descope-auth`
// on a private loopback port (started by the returned run function).
func startUpstream(cfg *config.Config, secret []byte, deps Deps, log *slog.Logger) (*upstream, error) {
	if cfg.ExternalMLflow() {
		return &upstream{url: cfg.MLflowURL, ready: healthCheck(cfg.MLflowURL, cfg.StaticPrefix, deps.MLflowTransport)}, nil
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
	sup, err := mlflow.New(mlflow.Options{
		MLflowBin:         bin,
		BackendStoreURI:   cfg.BackendStoreURI,
		ArtifactRoot:      cfg.ArtifactRoot,
		AssertionSecret:   secret,
		AdminUsername:     cfg.AdminUsername,
		DefaultPermission: cfg.DefaultPermission,
		EnableWorkspaces:  cfg.EnableWorkspaces,
		StaticPrefix:      cfg.StaticPrefix,
		Workers:           cfg.MLflowWorkers,
		BaseEnv:           deps.Environ,
		WorkDir:           workDir,
		Home:              cfg.MLflowHome,
		Logger:            log,
	})
	if err != nil {
		return nil, err
	}
	return &upstream{url: sup.URL(), run: sup.Run, ready: sup.Ready, sup: sup}, nil
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
