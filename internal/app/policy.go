package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
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

// policyParts are the provisioner (which the sync job drives too) and the
// policy over it (which the gateway asks).
type policyParts struct {
	provisioner *provision.Provisioner
	policy      *provision.Policy
}

// newPolicy joins the pieces that make MLflow follow Descope: the role
// mapping, the block list, provisioning, and the rules the gateway asks.
func newPolicy(cfg *config.Config, client *mlflow.Client, dc *descope.Client, deny *denylist.List, sink event.Sink, up *mlflowUpstream, log *slog.Logger) (policyParts, error) {
	mapping, err := LoadMapping(cfg)
	if err != nil {
		return policyParts{}, err
	}
	p, err := provision.New(provision.Options{
		MLflow:     client,
		Mapping:    mapping,
		AdminRoles: cfg.AdminRoles,
		Workspaces: cfg.EnableWorkspaces,
		// Blocked users are shared with replicas through the database (a
		// replica without the sync job still refuses them).
		Blocked: deny.Blocked,
		Events:  sink,
		Logger:  log.With("component", "provision"),
	})
	if err != nil {
		return policyParts{}, err
	}
	po := provision.PolicyOptions{Provisioner: p, Directory: dc, Logger: log}
	if up.pool != nil {
		po.MLflowReady = up.pool.WaitReady
	}
	pol, err := provision.NewPolicy(po)
	if err != nil {
		return policyParts{}, err
	}
	return policyParts{provisioner: p, policy: pol}, nil
}
