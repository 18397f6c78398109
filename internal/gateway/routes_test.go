package gateway

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/classify"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
)

// TestSelfServicePathsWithoutTheFeature: with Options.SelfService nil the
// self-service paths are the gateway's own 404 (the catch-all under
// /auth/), never the route to MLflow. A unit test of the routing table
// alone: app.New always mounts the feature (turned off, it says so), so the
// gateway's tests over app.New cannot leave it out.
func TestSelfServicePathsWithoutTheFeature(t *testing.T) {
	t.Parallel()
	classes, err := classify.New(classify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	h := &handler{log: slog.New(slog.DiscardHandler), classes: classes, opts: Options{
		Now:    time.Now,
		Events: event.SinkFunc(func(r *event.Record) { routes = append(routes, r.Request.Route) }),
	}}
	mux := h.routes()
	for _, p := range []string{"/auth/keys", "/auth/keys/K2x/revoke", "/auth/cli/authorize", "/auth/cli/token", "/auth/device", "/auth/device/code"} {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			routes = nil
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(m, p, nil))
			if rec.Code != http.StatusNotFound || len(routes) != 1 || routes[0] != "auth_unknown" {
				t.Errorf("%s %s without SelfService: status %d, route %q; want 404 from auth_unknown", m, p, rec.Code, routes)
			}
		}
	}
}
