package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/app"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
)

// explain prints which MLflow user, admin flag, roles and workspaces a
// Descope user (by login ID, user ID or MLflow username) gets, and from
// which rule. It needs DESCOPE_MANAGEMENT_KEY to look the user up, and reads
// the MLflow usernames from the gateway's database.
func explain(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	var id string
	var rest []string
	for _, a := range args {
		if id == "" && len(a) > 0 && a[0] != '-' {
			id = a
			continue
		}
		rest = append(rest, a)
	}
	if id == "" {
		fmt.Fprintln(stderr, "usage: mlflow-descope-auth explain <login id, user id or mlflow username> [flags]")
		return ErrReported
	}
	cfg, err := loadConfig(rest, environ, stderr)
	if err != nil {
		return err
	}
	if cfg.ManagementKey == "" {
		fmt.Fprintln(stderr, "explain needs DESCOPE_MANAGEMENT_KEY to look the user up in Descope")
		return ErrReported
	}
	mapping, err := app.LoadMapping(cfg)
	if err != nil {
		printProblems(stderr, err)
		return ErrReported
	}
	dc, err := descope.New(descope.Options{
		BaseURL:       descope.BaseURL(cfg.ProjectID, cfg.BaseURI),
		ProjectID:     cfg.ProjectID,
		ManagementKey: descope.Secret(cfg.ManagementKey.Reveal()),
	})
	if err != nil {
		return err
	}
	// The gateway's database holds each user's MLflow username (found by
	// user ID, username or login ID).
	store, err := app.OpenAuditStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	defer store.Close()
	names, err := app.OpenNames(ctx, cfg, store, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	return provision.Explain(ctx, provision.ExplainDeps{
		Descope: dc, Mapping: mapping, AdminRoles: cfg.AdminRoles, Workspaces: cfg.EnableWorkspaces, Names: names,
	}, id, stdout)
}
