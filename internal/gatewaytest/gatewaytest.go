// Package gatewaytest builds a complete gateway for tests of the packages
// that hang off it (audit wiring, metrics, admin pages): the Descope
// simulator in-process, the real descope client, verifier, sessions and
// access-key authenticator, and a fake MLflow that checks the identity
// assertion. Everything it starts is stopped by tb.Cleanup.
package gatewaytest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/session"
)

// Secret is the assertion secret shared with the fake MLflow.
const Secret = "0123456789abcdef0123456789abcdef-gatewaytest"

// DeniedExperiment is an experiment ID the fake MLflow refuses with 403, as
// MLflow's RBAC would.
const DeniedExperiment = "999"

// Options configures the test gateway. The zero value works.
type Options struct {
	Observer    gateway.Observer
	Admin       http.Handler
	AdminFlowID string
	// SelfService, if set, builds the self-service handler from the
	// gateway's parts (g.Descope, g.Keys, g.URL is not known yet).
	SelfService func(g *Gateway) http.Handler
	// OnExchange is passed to the access-key authenticator.
	OnExchange func(keyID string, err error)
	// DescopeTransport wraps the descope client's transport.
	DescopeTransport func(http.RoundTripper) http.RoundTripper
	// InProcessUpstream serves the fake MLflow without a listener (fast,
	// for load tests); otherwise it is an httptest.Server.
	InProcessUpstream bool
	// UpstreamDelay makes the fake MLflow slow.
	UpstreamDelay time.Duration
	Logger        *slog.Logger
}

// Gateway is a running test gateway.
type Gateway struct {
	Sim      *descopesim.Server
	Handler  http.Handler
	Server   *httptest.Server // the handler on a loopback listener
	URL      string
	Verifier *descope.Verifier
	Keys     *accesskey.Authenticator
	Descope  *descope.Client
	// Upstream counts the requests that reached the fake MLflow.
	Upstream atomic.Int64
}

// New builds and starts a gateway.
func New(tb testing.TB, o Options) *Gateway {
	tb.Helper()
	sim, err := descopesim.New(descopesim.Options{ProjectID: "P2GatewayTest0001"})
	if err != nil {
		tb.Fatalf("descopesim: %v", err)
	}
	tb.Cleanup(func() { sim.Close() })
	var hc *http.Client
	if o.DescopeTransport != nil {
		hc = &http.Client{
			Transport:     o.DescopeTransport(http.DefaultTransport.(*http.Transport).Clone()),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	dc, err := descope.New(descope.Options{BaseURL: sim.URL(), ProjectID: sim.ProjectID(),
		ManagementKey: descope.Secret(sim.ManagementKey()), HTTPClient: hc})
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := descope.NewKeys(dc, descope.KeysOptions{ForcedInterval: time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	if err := keys.Refresh(context.Background()); err != nil {
		tb.Fatalf("keys: %v", err)
	}
	verifier, err := descope.NewVerifier(keys, descope.VerifierOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	sessions, err := session.NewManager(session.Options{Verifier: verifier, Refresher: dc})
	if err != nil {
		tb.Fatal(err)
	}
	ak, err := accesskey.New(accesskey.Options{Descope: dc, Verifier: verifier, OnExchange: o.OnExchange})
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := assertion.NewSigner([]byte(Secret), time.Minute, nil)
	if err != nil {
		tb.Fatal(err)
	}
	g := &Gateway{Sim: sim, Verifier: verifier, Keys: ak, Descope: dc}
	up := g.fakeMLflow(o.UpstreamDelay)
	var upURL *url.URL
	var transport http.RoundTripper
	if o.InProcessUpstream {
		upURL, _ = url.Parse("http://mlflow.test")
		transport = handlerTransport{up}
	} else {
		srv := httptest.NewServer(up)
		tb.Cleanup(srv.Close)
		upURL, _ = url.Parse(srv.URL)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	srv := httptest.NewUnstartedServer(nil)
	var self http.Handler
	if o.SelfService != nil {
		self = o.SelfService(g)
	}
	h, err := gateway.New(gateway.Options{
		LocalOrigins:      []string{"http://" + srv.Listener.Addr().String()},
		ProjectID:         sim.ProjectID(),
		FlowID:            "sign-up-or-in",
		AdminFlowID:       o.AdminFlowID,
		WebComponentURL:   sim.URL() + "/sim/web-component.js",
		DescopeBaseURL:    sim.URL(),
		AdminRoles:        []string{"admin", "mlflow-admin"},
		AdminUsername:     "mlflow-descope-auth-admin",
		Upstream:          upURL,
		UpstreamTransport: transport,
		Verifier:          verifier,
		Descope:           dc,
		Sessions:          sessions,
		Keys:              ak,
		Signer:            signer,
		Observer:          o.Observer,
		Admin:             o.Admin,
		KeysReady:         keys.Ready,
		Logger:            o.Logger,
		SelfService:       self,
	})
	if err != nil {
		tb.Fatalf("gateway.New: %v", err)
	}
	g.Handler = h
	srv.Config.Handler = h
	srv.Start()
	g.Server = srv
	tb.Cleanup(g.Server.Close)
	g.URL = g.Server.URL
	return g
}

// fakeMLflow answers like MLflow would for a valid assertion: 401 without
// one, 403 for DeniedExperiment, 200 with JSON otherwise.
func (g *Gateway) fakeMLflow(delay time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		g.Upstream.Add(1)
		if delay > 0 {
			time.Sleep(delay)
		}
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
	})
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
