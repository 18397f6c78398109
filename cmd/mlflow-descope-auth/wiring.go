package main

import (
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
)

func newMLflowAdmin(cfg *config.Config, base *url.URL, signer *assertion.Signer) (*mlflow.Client, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	return mlflow.NewClient(base.JoinPath(cfg.StaticPrefix).String(), cfg.AdminUsername, mlflow.SignerFunc(signer), hc)
}

func newKeyAuthenticator(cfg *config.Config, dc *descope.Client, v *descope.Verifier, prov *provisioner, log *slog.Logger, h hooks) (gateway.KeyAuthenticator, error) {
	return accesskey.New(accesskey.Options{
		Descope: dc, Verifier: v, OnExchange: h.onExchange, Logger: log.With("component", "accesskey"),
		AllowExchange: accesskey.DefaultExchangeLimits(nil),
		SameAsUser:    prov.sameAsUser,
	})
}
