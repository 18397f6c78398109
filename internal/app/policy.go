package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/naming"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/rolemap"
)

// LoadMapping reads the role mapping file, if one is configured.
func LoadMapping(cfg *config.Config) (*rolemap.Mapping, error) {
	if cfg.RoleMappingFile == "" {
		return rolemap.Empty(), nil
	}
	m, err := rolemap.Load(cfg.RoleMappingFile)
	if err != nil {
		return nil, fmt.Errorf("DESCOPE_ROLE_MAPPING_FILE: %w", err)
	}
	return m, nil
}

// newMLflowAdmin is the client of MLflow's admin API, acting as MLflow's
// bootstrap admin.
func newMLflowAdmin(cfg *config.Config, base *url.URL, signer *assertion.Signer, transport http.RoundTripper) (*mlflow.Client, error) {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: transport}
	return mlflow.NewClient(base.JoinPath(cfg.StaticPrefix).String(), cfg.AdminUsername, mlflow.SignerFunc(signer), hc)
}

// policyParts are the provisioner (which the sync job drives too), the
// MLflow usernames, and the policy over them (which the gateway asks).
type policyParts struct {
	provisioner *provision.Provisioner
	names       *naming.Store
	policy      *provision.Policy
}

// OpenNames opens the mapping from Descope user ID to MLflow username in the
// gateway's database (the audit store's), so that replicas sharing it agree
// on every name. client, if set, is asked whether a name is free and which
// users to seed from; sink receives the naming events.
func OpenNames(ctx context.Context, cfg *config.Config, store audit.Store, client naming.MLflow, sink event.Sink, log *slog.Logger) (*naming.Store, error) {
	sb, ok := store.(audit.SQLBacked)
	if !ok {
		return nil, errors.New("mlflow usernames: the gateway's database is not a SQL database")
	}
	mode, err := naming.ParseMode(cfg.UsernameMode)
	if err != nil {
		return nil, fmt.Errorf("MLFLOW_DESCOPE_USERNAME: %w", err)
	}
	db, dialect := sb.SQL()
	return naming.New(ctx, naming.Options{
		DB: db, Dialect: dialect, Mode: mode,
		// The gateway's own MLflow admin and the MLflow users of access keys
		// are never a person's name.
		Reserved: naming.Reserved{Names: []string{cfg.AdminUsername}, Prefixes: []string{accesskey.Username("")}},
		MLflow:   client,
		Events:   sink,
		Logger:   log.With("component", "naming"),
	})
}

// newPolicy joins the pieces that make MLflow follow Descope: the role
// mapping, the block list, provisioning, the MLflow usernames, and the
// rules the gateway asks.
func newPolicy(ctx context.Context, cfg *config.Config, client *mlflow.Client, dc *descope.Client, store audit.Store, deny *denylist.List, sink event.Sink, up *mlflowUpstream, log *slog.Logger) (policyParts, error) {
	mapping, err := LoadMapping(cfg)
	if err != nil {
		return policyParts{}, err
	}
	names, err := OpenNames(ctx, cfg, store, client, sink, log)
	if err != nil {
		return policyParts{}, err
	}
	p, err := provision.New(provision.Options{
		MLflow:     client,
		Mapping:    mapping,
		AdminRoles: cfg.AdminRoles,
		Workspaces: cfg.EnableWorkspaces,
		// Blocked users are shared with replicas through the database (a
		// replica without the sync job still refuses them). The list is kept
		// by user ID; the gateway refuses blocked users before this, and
		// provisioning checks again by the name it is given.
		Blocked: func(username string) bool {
			if deny.Blocked(username) {
				return true
			}
			id, ok := names.UserIDOf(username)
			return ok && deny.Blocked(id)
		},
		Events: sink,
		Logger: log.With("component", "provision"),
	})
	if err != nil {
		return policyParts{}, err
	}
	po := provision.PolicyOptions{Provisioner: p, Directory: dc, Names: names, Logger: log}
	if up.pool != nil {
		po.MLflowReady = up.pool.WaitReady
	}
	pol, err := provision.NewPolicy(po)
	if err != nil {
		return policyParts{}, err
	}
	return policyParts{provisioner: p, names: names, policy: pol}, nil
}
