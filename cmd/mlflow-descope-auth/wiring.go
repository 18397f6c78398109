package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
)

func newMLflowAdmin(cfg *config.Config, base *url.URL, signer *assertion.Signer) (*mlflow.Client, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	return mlflow.NewClient(base.JoinPath(cfg.StaticPrefix).String(), cfg.AdminUsername, mlflow.SignerFunc(signer), hc)
}

// provisioner adapts provision.Provisioner to the gateway's identities.
type provisioner struct{ p *provision.Provisioner }

func (a provisioner) Ensure(ctx context.Context, id *gateway.Identity) error {
	return a.p.Ensure(ctx, provision.Subject{Username: id.Username, Admin: id.Admin})
}

func newProvisioner(cfg *config.Config, client *mlflow.Client, log *slog.Logger) (gateway.Provisioner, error) {
	p, err := provision.New(provision.Options{MLflow: client, Logger: log.With("component", "provision")})
	if err != nil {
		return nil, err
	}
	return provisioner{p}, nil
}

func newKeyAuthenticator(cfg *config.Config, dc *descope.Client, v *descope.Verifier, log *slog.Logger) (gateway.KeyAuthenticator, error) {
	return accesskey.New(accesskey.Options{Descope: dc, Verifier: v, Logger: log.With("component", "accesskey")})
}
