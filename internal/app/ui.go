package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/ui"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/web"
)

// openUI indexes MLflow's UI files for the gateway to serve
// (MLFLOW_DESCOPE_SERVE_UI): from MLFLOW_DESCOPE_UI_DIR, or in launcher mode
// from the MLflow the gateway runs. nil: MLflow serves them — when turned
// off, in external mode without a directory, or when the installed MLflow's
// cannot be found (logged). A directory named explicitly must be usable.
func openUI(ctx context.Context, cfg *config.Config, up *mlflowUpstream, environ []string, log *slog.Logger) (*ui.Files, error) {
	if !cfg.ServeUI {
		return nil, nil
	}
	dir := cfg.UIDir
	if dir == "" {
		if up.bin == "" {
			log.Info("MLflow serves its UI files (external mode; set MLFLOW_DESCOPE_UI_DIR to serve them from the gateway)")
			return nil, nil
		}
		var err error
		if dir, err = mlflow.UIDir(ctx, up.bin, environ); err != nil {
			log.Warn("MLflow serves its UI files: its build directory was not found", "err", err)
			return nil, nil
		}
	}
	cache := cfg.UICacheDir
	if cache == "" {
		cache = filepath.Join(cfg.DataDir, "ui-cache")
	}
	files, err := ui.Open(ui.Options{
		Dir:      dir,
		CacheDir: cache,
		Page:     func(page []byte) []byte { return web.InjectBanner(page, cfg.StaticPrefix) },
		Logger:   log,
	})
	if err != nil {
		return nil, fmt.Errorf("MLFLOW_DESCOPE_UI_DIR: %w", err)
	}
	log.Info("serving MLflow's UI files", "dir", dir, "files", files.Len(), "cache", cache)
	return files, nil
}
