package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/denylist"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/metrics"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/observe"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/usersync"
)

// telemetry is the audit trail and the metrics: the registry, the audit
// store and its writer, and the observers the gateway reports to. serve
// closes it after the HTTP server has drained, so that every event of a
// finished request is stored.
type telemetry struct {
	reg     *prometheus.Registry
	metrics *metrics.Metrics
	store   audit.Store
	writer  *audit.Writer
	audit   *observe.Audit
	log     *slog.Logger
}

// hooks are the callbacks other components report changes through.
type hooks struct {
	onProvision func(provision.Event)
	onExchange  func(keyID string, err error)
	// onSyncRun is for the user and role sync: call it after every run.
	onSyncRun func(usersync.Report, error)
}

// auditURI is MLFLOW_DESCOPE_AUDIT_DB, or SQLite in the data dir.
func auditURI(cfg *config.Config) (string, error) {
	if cfg.AuditDatabaseURI != "" {
		return cfg.AuditDatabaseURI, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	return filepath.Join(cfg.DataDir, "audit.db"), nil
}

func openAuditStore(ctx context.Context, cfg *config.Config) (audit.Store, error) {
	uri, err := auditURI(cfg)
	if err != nil {
		return nil, err
	}
	return audit.Open(ctx, uri, audit.Options{})
}

// openDenylist keeps signed-out tokens and blocked users in the audit
// store's database, so that replicas sharing it (PostgreSQL) refuse them
// alike and a restarted gateway still does.
func (t *telemetry) openDenylist(ctx context.Context) (*denylist.List, error) {
	sb, ok := t.store.(audit.SQLBacked)
	if !ok {
		return denylist.Memory(), nil
	}
	db, dialect := sb.SQL()
	return denylist.New(ctx, denylist.Options{DB: db, Dialect: dialect, Logger: t.log.With("component", "denylist")})
}

// openTelemetry builds the registry, the metrics, the audit store and
// writer. stdout receives the audit events as JSON lines when
// MLFLOW_DESCOPE_AUDIT_STDOUT is set.
func openTelemetry(ctx context.Context, cfg *config.Config, stdout io.Writer, log *slog.Logger) (*telemetry, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	m, err := metrics.New(reg)
	if err != nil {
		return nil, err
	}
	am, err := audit.NewMetrics(reg, metrics.Namespace)
	if err != nil {
		return nil, err
	}
	store, err := openAuditStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	wo := audit.WriterOptions{Metrics: am, Logger: log}
	if cfg.AuditStdout {
		wo.Stdout = stdout
	}
	w, err := audit.NewWriter(store, wo)
	if err != nil {
		store.Close()
		return nil, err
	}
	a, err := observe.New(observe.Options{Recorder: w})
	if err != nil {
		_ = w.Close(ctx)
		store.Close()
		return nil, err
	}
	return &telemetry{reg: reg, metrics: m, store: store, writer: w, audit: a, log: log.With("component", "telemetry")}, nil
}

// observer is what the gateway reports to: metrics and audit.
func (t *telemetry) observer() gateway.Observer { return observers{t.metrics, t.audit} }

func (t *telemetry) hooks() hooks {
	return hooks{
		onProvision: func(e provision.Event) {
			t.metrics.ProvisionChange(e.Action)
			t.audit.ProvisionChange(e)
		},
		onExchange: func(keyID string, err error) {
			t.metrics.AccessKeyExchange(keyID, err)
			t.audit.AccessKeyExchange(keyID, err)
		},
		onSyncRun: func(rep usersync.Report, err error) {
			t.metrics.SyncRun(err)
			t.audit.SyncRun(observe.SyncRun{Started: rep.Started, Finished: rep.Finished, Err: err, Counts: map[string]int{
				"descope_users": rep.DescopeUsers, "mlflow_users": rep.MLflowUsers, "reconciled": len(rep.Reconciled),
				"disabled": len(rep.Disabled), "deleted": len(rep.Deleted), "unblocked": len(rep.Unblocked),
				"failed": len(rep.Failed), "changes": len(rep.Events),
			}})
		},
	}
}

// descopeHTTPClient sends Descope calls through the metrics transport. Like
// the client's default, it never follows redirects.
func (t *telemetry) descopeHTTPClient() *http.Client {
	return &http.Client{
		Transport:     t.metrics.DescopeTransport(http.DefaultTransport.(*http.Transport).Clone()),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// addCaches exports the hit rates of the caches in front of Descope and
// MLflow, and MLflow's restarts when the gateway supervises it.
func (t *telemetry) addCaches(v *descope.Verifier, keys gateway.KeyAuthenticator, prov gateway.Provisioner, up *upstream) error {
	var errs []error
	errs = append(errs, t.metrics.AddCache("descope_token", func() (uint64, uint64) {
		s := v.CacheStats()
		return s.Hits, s.Misses
	}))
	if k, ok := keys.(interface{ CacheStats() accesskey.CacheStats }); ok {
		errs = append(errs, t.metrics.AddCache("access_key", func() (uint64, uint64) {
			s := k.CacheStats()
			return s.Hits, s.Misses
		}))
	}
	if p, ok := prov.(interface{ CacheStats() (uint64, uint64) }); ok {
		errs = append(errs, t.metrics.AddCache("provision", p.CacheStats))
	}
	if up != nil && up.sup != nil {
		errs = append(errs, t.metrics.AddMLflowRestarts(up.sup.Restarts))
	}
	return errors.Join(errs...)
}

// started records the start with the version and a hash of the effective
// configuration as check-config prints it (secrets masked).
func (t *telemetry) started(cfg *config.Config) {
	var b bytes.Buffer
	_ = cfg.Dump(&b)
	sum := sha256.Sum256(b.Bytes())
	t.audit.Started(map[string]string{"version": version, "config_hash": "sha256:" + hex.EncodeToString(sum[:])})
}

// close stores every accepted event, then closes the store. Call it after
// the HTTP server has shut down.
func (t *telemetry) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := t.writer.Close(ctx); err != nil {
		t.log.Error("audit writer close", "err", err)
	}
	s := t.writer.Stats()
	t.log.Info("audit closed", "written", s.Written, "dropped", s.Dropped, "failed", s.Failed)
	if err := t.store.Close(); err != nil {
		t.log.Error("audit store close", "err", err)
	}
}

// observers passes every report to each observer in turn.
type observers []gateway.Observer

func (o observers) Request(r *http.Request, info gateway.RequestInfo) {
	for _, x := range o {
		x.Request(r, info)
	}
}

func (o observers) SignIn(r *http.Request, id *gateway.Identity) {
	for _, x := range o {
		x.SignIn(r, id)
	}
}

func (o observers) SignOut(r *http.Request, id *gateway.Identity) {
	for _, x := range o {
		x.SignOut(r, id)
	}
}

func (o observers) Refresh(r *http.Request, id *gateway.Identity) {
	for _, x := range o {
		x.Refresh(r, id)
	}
}

func (o observers) AuthFailure(r *http.Request, m gateway.Method, reason string) {
	for _, x := range o {
		x.AuthFailure(r, m, reason)
	}
}

// CacheStats reports the provisioning cache's hits and misses.
func (a *provisioner) CacheStats() (hits, misses uint64) { return a.p.CacheStats() }
