package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestProbeCommand: `probe` is what the image's health check runs; without
// a URL it checks /ready on MLFLOW_DESCOPE_PORT.
func TestProbeCommand(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	env := []string{"MLFLOW_DESCOPE_PORT=1", "MLFLOW_DESCOPE_PORT=" + u.Port()}
	var out, errOut bytes.Buffer
	if err := Run(context.Background(), []string{"probe"}, env, &out, &errOut); err != nil {
		t.Fatalf("probe with the port from the environment: %v (%s)", err, errOut.String())
	}
	if err := Run(context.Background(), []string{"probe", srv.URL + "/health"}, nil, &out, &errOut); err == nil {
		t.Fatal("probe of a 503 answer succeeded")
	}
	if err := Run(context.Background(), []string{"probe", "a", "b"}, nil, &out, &errOut); err == nil {
		t.Fatal("probe with two URLs succeeded")
	}
}
