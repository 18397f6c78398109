// Package gatewaytest runs the real gateway (app.New, production's rules)
// for tests: over the Descope simulator in-process and a fake MLflow in
// external mode, with its data (audit log, block list) in a temporary
// directory. Everything it starts is stopped by tb.Cleanup.
package gatewaytest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/admin"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/app"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow/mlflowtest"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/selfservice"
)

// Secret is the assertion secret shared with the fake MLflow.
const Secret = "0123456789abcdef0123456789abcdef-gatewaytest"

// AdminUsername is MLflow's bootstrap admin, as the gateway's admin API
// client names itself.
const AdminUsername = "mlflow-descope-auth-admin"

// DeniedExperiment is an experiment ID the fake MLflow refuses with 403, as
// MLflow's RBAC would.
const DeniedExperiment = "999"

// Options configures the test gateway. The zero value works.
type Options struct {
	// Env are configuration lines (KEY=VALUE) over the test's defaults,
	// e.g. "MLFLOW_DESCOPE_UNKNOWN_ROUTES=allow".
	Env []string
	// Sim is the Descope simulator to use; nil: a new one.
	Sim *descopesim.Server
	// MLflow is the fake MLflow to use (another gateway's, to share it);
	// nil: a new one answering with Tracking.
	MLflow *MLflow
	// Tracking answers the requests users send through the gateway; nil:
	// 401 without a valid assertion, 403 for DeniedExperiment, else JSON
	// naming the assertion's user and the path.
	Tracking http.Handler
	// InProcessUpstream serves the fake MLflow without a listener (fast,
	// for load tests); otherwise it is an httptest.Server.
	InProcessUpstream bool
	// UpstreamDelay makes the fake MLflow slow.
	UpstreamDelay time.Duration
	// Events also receives every event record.
	Events event.Sink
	// AdminOptions may change the admin pages' options.
	AdminOptions func(*admin.Options)
	// SelfServiceOptions may change the self-service options (a clock,
	// limits, a Descope that misbehaves); the rest is configuration, e.g.
	// "MLFLOW_DESCOPE_MAX_KEYS_PER_USER=2" in Env.
	SelfServiceOptions func(*selfservice.Options)
	// Limits replace the abuse limits.
	Limits gateway.Limits
	// Realistic keeps production's limits on forced fetches of Descope's
	// keys and on exchanges of unknown access keys (tests otherwise
	// refetch and exchange freely).
	Realistic bool
	// NoManagementKey runs without DESCOPE_MANAGEMENT_KEY.
	NoManagementKey bool
	// NotReady returns without waiting for /ready to say 200.
	NotReady bool
	Logger   *slog.Logger
}

// Gateway is a running test gateway.
type Gateway struct {
	App     *app.App
	Sim     *descopesim.Server
	Handler http.Handler
	URL     string
	MLflow  *MLflow
}

// New builds the gateway with app.New and runs it until the test ends.
func New(tb testing.TB, o Options) *Gateway {
	tb.Helper()
	sim := o.Sim
	if sim == nil {
		var err error
		sim, err = descopesim.New(descopesim.Options{ProjectID: "P2GatewayTest0001"})
		if err != nil {
			tb.Fatalf("descopesim: %v", err)
		}
		tb.Cleanup(func() { sim.Close() })
	}
	up := o.MLflow
	if up == nil {
		up = NewMLflow(tb, o.Tracking, o.UpstreamDelay, o.InProcessUpstream)
	}
	env := []string{
		"DESCOPE_PROJECT_ID=" + sim.ProjectID(),
		"DESCOPE_BASE_URI=" + sim.URL(),
		"DESCOPE_WEB_COMPONENT_URL=" + sim.URL() + "/sim/web-component.js",
		"DESCOPE_SYNC_INTERVAL=0",
		"MLFLOW_DESCOPE_MLFLOW_URL=" + up.URL,
		"MLFLOW_DESCOPE_ASSERTION_SECRET=" + Secret,
		"MLFLOW_DESCOPE_DATA_DIR=" + tb.TempDir(),
		"MLFLOW_DESCOPE_METRICS_ADDR=",
		"MLFLOW_DESCOPE_AUDIT_RETENTION=0",
	}
	if !o.NoManagementKey {
		env = append(env, "DESCOPE_MANAGEMENT_KEY="+sim.ManagementKey())
	}
	cfg, err := config.Load(config.Sources{Environ: append(env, o.Env...), ReadFile: os.ReadFile})
	if err != nil {
		tb.Fatalf("config: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	deps := app.Deps{Listener: ln, MLflowTransport: up.transport, Events: o.Events, AdminOptions: o.AdminOptions,
		SelfServiceOptions: o.SelfServiceOptions, Limits: o.Limits, Logger: o.Logger, Version: "test"}
	if !o.Realistic {
		deps.KeysForcedInterval = time.Millisecond
		deps.ExchangeLimit = func(netip.Addr) (bool, time.Duration) { return true, 0 }
	}
	a, err := app.New(context.Background(), cfg, deps)
	if err != nil {
		ln.Close()
		tb.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("gateway run: %v", err)
		}
		a.Close()
	})
	g := &Gateway{App: a, Sim: sim, Handler: a.Handler(), URL: "http://" + ln.Addr().String(), MLflow: up}
	if !o.NotReady {
		g.waitReady(tb, done)
	}
	return g
}

// waitReady waits until /ready says 200 (keys loaded, MLflow answering,
// the role mapping applied).
func (g *Gateway) waitReady(tb testing.TB, done <-chan error) {
	tb.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		select {
		case err := <-done:
			tb.Fatalf("gateway stopped: %v", err)
		default:
		}
		resp, err := http.Get(g.URL + "/ready")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
	}
	tb.Fatal("gateway not ready after 30s")
}

// MLflow is a fake MLflow server: its admin API (the gateway's own calls,
// with an assertion naming AdminUsername) in memory, and everything else
// answered by a Tracking handler.
type MLflow struct {
	URL string
	// Admin is the admin API's state.
	Admin *mlflowtest.Admin
	// Reached counts the requests that reached Tracking.
	Reached   atomic.Int64
	tracking  http.Handler
	delay     time.Duration
	transport http.RoundTripper // nil: over the network
}

// NewMLflow starts a fake MLflow (see Options.Tracking).
func NewMLflow(tb testing.TB, tracking http.Handler, delay time.Duration, inProcess bool) *MLflow {
	tb.Helper()
	m := &MLflow{Admin: mlflowtest.New(), tracking: tracking, delay: delay}
	if m.tracking == nil {
		m.tracking = http.HandlerFunc(trackingAPI)
	}
	if inProcess {
		m.URL = "http://mlflow.test"
		m.transport = handlerTransport{m}
		return m
	}
	srv := httptest.NewServer(m)
	tb.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

// ServeHTTP implements http.Handler.
func (m *MLflow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/health") { // under any static prefix
		_, _ = io.WriteString(w, "OK")
		return
	}
	if c, err := assertion.Verify([]byte(Secret), r.Header.Get(assertion.Header), time.Now()); err == nil && c.Subject == AdminUsername {
		if i := strings.Index(r.URL.Path, "/api/"); i > 0 { // a static prefix
			r = r.Clone(r.Context())
			r.URL.Path = r.URL.Path[i:]
		}
		m.Admin.ServeHTTP(w, r)
		return
	}
	m.Reached.Add(1)
	if m.delay > 0 {
		time.Sleep(m.delay)
	}
	m.tracking.ServeHTTP(w, r)
}

// trackingAPI answers like MLflow would for a valid assertion: 401 without
// one, 403 for DeniedExperiment, 200 with JSON otherwise.
func trackingAPI(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	c, err := assertion.Verify([]byte(Secret), r.Header.Get(assertion.Header), time.Now())
	switch {
	case err != nil:
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error_code":"UNAUTHENTICATED","message":"no assertion"}`)
	case r.URL.Query().Get("experiment_id") == DeniedExperiment:
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"error_code":"PERMISSION_DENIED","message":"no"}`)
	default:
		_ = json.NewEncoder(w).Encode(map[string]string{"user": c.Subject, "path": r.URL.Path})
	}
}

// handlerTransport answers upstream requests from a handler in-process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil {
		r.Body = http.NoBody // a server never hands a handler a nil body
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// User creates a Descope user in the simulator.
func (g *Gateway) User(tb testing.TB, id string, roles ...string) descopesim.User {
	tb.Helper()
	u := descopesim.User{ID: id, LoginIDs: []string{id + "@example.com"}, Email: id + "@example.com", Name: "User " + id, Roles: roles}
	if err := g.Sim.CreateUser(u); err != nil {
		tb.Fatalf("create user: %v", err)
	}
	return u
}

// Mint issues a session and refresh JWT for a user.
func (g *Gateway) Mint(tb testing.TB, userID string, o descopesim.MintOptions) (sessionJWT, refreshJWT string) {
	tb.Helper()
	s, r, err := g.Sim.MintSession(userID, o)
	if err != nil {
		tb.Fatalf("mint: %v", err)
	}
	return s, r
}

// Management is a Descope management client of the simulator, for a test
// to see and change what Descope holds (access keys made through the
// gateway, say) the way the gateway would.
func (g *Gateway) Management(tb testing.TB) *descope.Client {
	tb.Helper()
	dc, err := descope.New(descope.Options{BaseURL: g.Sim.URL(), ProjectID: g.Sim.ProjectID(), ManagementKey: descope.Secret(g.Sim.ManagementKey())})
	if err != nil {
		tb.Fatalf("descope client: %v", err)
	}
	return dc
}

// AccessKey creates an access key bound to userID and returns its ID and
// the secret a client presents.
func (g *Gateway) AccessKey(tb testing.TB, userID string) (keyID, secret string) {
	tb.Helper()
	id, sec, err := g.Sim.CreateAccessKey(descopesim.AccessKeyOptions{BoundUserID: userID})
	if err != nil {
		tb.Fatalf("create access key: %v", err)
	}
	return id, sec
}
