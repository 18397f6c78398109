package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/metrics"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/observe"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/provision"
)

// telemetry is the audit trail and the metrics: the registry, the audit
// store and its writer, and the sink every event goes to. App.Close closes
// it after the HTTP server has drained, so that every event of a finished
// request is stored.
type telemetry struct {
	metrics *metrics.Metrics
	store   audit.Store
	writer  *audit.Writer
	// sink is metrics, then audit, then Deps.Events.
	sink event.Sink
	log  *slog.Logger
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

// OpenAuditStore opens the audit log MLFLOW_DESCOPE_AUDIT_DB names (SQLite
// in the data dir by default).
func OpenAuditStore(ctx context.Context, cfg *config.Config) (audit.Store, error) {
	uri, err := auditURI(cfg)
	if err != nil {
		return nil, err
	}
	return audit.Open(ctx, uri, audit.Options{})
}

// openTelemetry builds the registry, the metrics, the audit store and
// writer. Deps.Stdout receives the audit events as JSON lines when
// MLFLOW_DESCOPE_AUDIT_STDOUT is set.
func openTelemetry(ctx context.Context, cfg *config.Config, deps Deps, log *slog.Logger) (*telemetry, error) {
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
	store, err := OpenAuditStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	wo := audit.WriterOptions{Metrics: am, Logger: log}
	if cfg.AuditStdout {
		wo.Stdout = deps.Stdout
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
	sink := event.Tee{m, a}
	if deps.Events != nil {
		sink = append(sink, deps.Events)
	}
	return &telemetry{metrics: m, store: store, writer: w, sink: sink, log: log.With("component", "telemetry")}, nil
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
// MLflow, and the state of MLflow's processes when the gateway runs them.
func (t *telemetry) addCaches(v *descope.Verifier, keys *accesskey.Authenticator, prov *provision.Provisioner, up *mlflowUpstream) error {
	var errs []error
	errs = append(errs, t.metrics.AddCache("descope_token", func() (uint64, uint64) {
		s := v.CacheStats()
		return s.Hits, s.Misses
	}))
	errs = append(errs, t.metrics.AddCache("access_key", func() (uint64, uint64) {
		s := keys.CacheStats()
		return s.Hits, s.Misses
	}))
	errs = append(errs, t.metrics.AddCache("provision", prov.CacheStats))
	if up.pool != nil {
		errs = append(errs, t.metrics.AddMLflowWorkers(up.workerStats))
	}
	return errors.Join(errs...)
}

// started records the start with the version and a hash of the effective
// configuration as check-config prints it (secrets masked).
func (t *telemetry) started(cfg *config.Config, version string) {
	var b bytes.Buffer
	_ = cfg.Dump(&b)
	sum := sha256.Sum256(b.Bytes())
	event.Send(t.sink, event.Started{Details: map[string]string{"version": version, "config_hash": "sha256:" + hex.EncodeToString(sum[:])}})
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

// runBackground starts, under g, what telemetry runs beside the gateway:
// the metrics listener (unless MLFLOW_DESCOPE_METRICS_ADDR is empty) and
// audit retention (unless MLFLOW_DESCOPE_AUDIT_RETENTION is 0).
func (t *telemetry) runBackground(ctx context.Context, g *errgroup.Group, cfg *config.Config) error {
	if cfg.AuditRetention > 0 {
		p, err := audit.NewPruner(t.store, audit.PrunerOptions{MaxAge: cfg.AuditRetention, Logger: t.log})
		if err != nil {
			return err
		}
		g.Go(func() error { return p.Run(ctx) })
	}
	if cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", cfg.MetricsAddr, err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		t.log.Warn("metrics listener is not on loopback; keep it off the public network", "addr", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", t.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(t.log.Handler(), slog.LevelWarn)}
	t.log.Info("metrics listening", "addr", ln.Addr().String())
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics: serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return nil
}
