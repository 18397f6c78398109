// Package metrics holds the gateway's Prometheus collectors: requests and
// their latency by route family and outcome, authentication outcomes,
// Descope calls, cache hit rates, MLflow restarts. Every collector is a
// field of Metrics, registered on the registry that run passes in; nothing
// is global. Labels are route families, RPC names, methods and reasons —
// bounded sets — never raw paths or users.
package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// Namespace prefixes every metric name.
const Namespace = "mlflow_descope"

// Metrics are the gateway's collectors. It implements event.Sink.
type Metrics struct {
	reg prometheus.Registerer
	gat prometheus.Gatherer

	requests        *prometheus.CounterVec   // family, rpc, outcome
	requestSeconds  *prometheus.HistogramVec // family, outcome
	auth            *prometheus.CounterVec   // method, outcome, reason
	sessions        *prometheus.CounterVec   // event
	keyExchanges    *prometheus.CounterVec   // outcome
	provisionEvents *prometheus.CounterVec   // action
	syncRuns        *prometheus.CounterVec   // outcome
	selfService     *prometheus.CounterVec   // action, outcome
	descopeSeconds  *prometheus.HistogramVec // endpoint, code
	descopeErrors   *prometheus.CounterVec   // endpoint, kind
	descopeLimited  *prometheus.CounterVec   // endpoint
	jwksFetches     *prometheus.CounterVec   // outcome
	caches          *cacheCollector
}

var _ event.Sink = (*Metrics)(nil)

// New creates the collectors and registers them on reg.
func New(reg *prometheus.Registry) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: nil registry")
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	m := &Metrics{
		reg: reg,
		gat: reg,
		requests: counter("http_requests_total",
			"Requests handled by the gateway, by route family, MLflow RPC and outcome.", "family", "rpc", "outcome"),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace,
			Name: "http_request_duration_seconds", Help: "Time to handle a request, by route family and outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}},
			[]string{"family", "outcome"}),
		auth: counter("authentications_total",
			"Authentication outcomes by method (cookie, bearer_jwt, access_key, basic_access_key, none) and failure reason.",
			"method", "outcome", "reason"),
		sessions: counter("session_events_total",
			"Browser session events: sign_in, sign_out, refresh.", "event"),
		keyExchanges: counter("access_key_exchanges_total",
			"Access keys exchanged at Descope (cache misses), by outcome.", "outcome"),
		provisionEvents: counter("provision_changes_total",
			"Changes provisioning made in MLflow, by action.", "action"),
		syncRuns: counter("sync_runs_total",
			"Runs of the periodic user and role sync, by outcome.", "outcome"),
		selfService: counter("self_service_events_total",
			"Personal access keys created and revoked, and sign-ins from code (loopback and device), by action and outcome.",
			"action", "outcome"),
		descopeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace,
			Name: "descope_request_duration_seconds", Help: "Calls to Descope's API by endpoint and status code class.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"endpoint", "code"}),
		descopeErrors: counter("descope_errors_total",
			"Failed calls to Descope: network errors and 5xx answers, by endpoint.", "endpoint", "kind"),
		descopeLimited: counter("descope_rate_limited_total",
			"Calls to Descope answered 429 Too Many Requests, by endpoint.", "endpoint"),
		jwksFetches: counter("jwks_fetches_total",
			"Fetches of the project's signing keys (GET /v2/keys), by outcome.", "outcome"),
		caches: newCacheCollector(),
	}
	for _, c := range []prometheus.Collector{m.requests, m.requestSeconds, m.auth, m.sessions, m.keyExchanges,
		m.provisionEvents, m.syncRuns, m.selfService, m.descopeSeconds, m.descopeErrors, m.descopeLimited, m.jwksFetches, m.caches} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// Handler serves the registry in the Prometheus text format, for the
// separate metrics listener (never the public one).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gat, promhttp.HandlerOpts{})
}

// CacheFunc reports a cache's cumulative hits and misses.
type CacheFunc func() (hits, misses uint64)

// AddCache exports a cache's hits and misses as
// mlflow_descope_cache_lookups_total{cache=name,result=hit|miss}.
func (m *Metrics) AddCache(name string, f CacheFunc) error {
	if name == "" || f == nil {
		return errors.New("metrics: add cache: empty name or nil func")
	}
	return m.caches.add(name, f)
}

// Handle implements event.Sink: per request one count and one latency
// sample (health probes are not reported by the gateway) and its
// authentication outcome; sessions, key exchanges, provisioning changes,
// sync runs and the self-service pages' keys and sign-ins from code are
// counted.
func (m *Metrics) Handle(r *event.Record) {
	if r.Request != nil {
		m.request(r.Request)
	}
	for _, e := range r.Events {
		switch e := e.(type) {
		case event.SignIn:
			m.sessions.WithLabelValues("sign_in").Inc()
		case event.SignOut:
			m.sessions.WithLabelValues("sign_out").Inc()
		case event.Refresh:
			m.sessions.WithLabelValues("refresh").Inc()
		case event.AuthFailure:
			m.auth.WithLabelValues(methodLabel(e.Method), "failure", string(e.Reason)).Inc()
		case event.KeyExchange:
			m.keyExchanges.WithLabelValues(outcomeLabel(e.Err)).Inc()
		case event.ProvisionChange:
			m.provisionEvents.WithLabelValues(e.Action).Inc()
		case event.SyncRun:
			m.syncRuns.WithLabelValues(outcomeLabel(e.Err)).Inc()
		case event.KeyCreated:
			m.selfService.WithLabelValues("access_key_create", "success").Inc()
		case event.KeyRevoked:
			// Someone else's key: denied, as in the audit trail.
			m.selfService.WithLabelValues("access_key_revoke", refusalLabel("", e.Refused != "")).Inc()
		case event.CodeSignIn:
			action := "cli_login"
			if e.Device {
				action = "device_approve"
			}
			m.selfService.WithLabelValues(action, refusalLabel(e.Refused, e.Declined)).Inc()
		}
	}
}

func (m *Metrics) request(r *event.Request) {
	family := r.Route
	if family == "" {
		family = "unknown"
	}
	outcome := RequestOutcome(r)
	m.requests.WithLabelValues(family, r.RPC, outcome).Inc()
	m.requestSeconds.WithLabelValues(family, outcome).Observe(r.Elapsed.Seconds())
	if r.Actor != nil && r.Reason == "" {
		m.auth.WithLabelValues(methodLabel(r.Actor.Method), "success", "").Inc()
	}
}

// refusalLabel is success, denied (the user declined) or failure (refused,
// with a reason).
func refusalLabel(refused event.Reason, declined bool) string {
	switch {
	case refused != "":
		return "failure"
	case declined:
		return "denied"
	}
	return "success"
}

func outcomeLabel(err error) string {
	if err != nil {
		return "failure"
	}
	return "success"
}

// RequestOutcome names how a request ended, for metrics: success (2xx, 3xx),
// unauthenticated (401 from the gateway), gateway_denied (403 from the
// gateway), mlflow_denied (401/403 from MLflow), client_error (other 4xx)
// or error (5xx).
func RequestOutcome(info *event.Request) string {
	s := info.Status
	switch {
	case info.MLflowDenied:
		return "mlflow_denied"
	case s < 400:
		return "success"
	case s == http.StatusUnauthorized:
		return "unauthenticated"
	case s == http.StatusForbidden:
		return "gateway_denied"
	case s < 500:
		return "client_error"
	default:
		return "error"
	}
}

func methodLabel(m event.Method) string {
	if m == event.MethodNone {
		return "none"
	}
	return string(m)
}

func codeClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}
