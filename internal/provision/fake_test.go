package provision_test

import (
	"net/http/httptest"
	"testing"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/mlflow/mlflowtest"
)

// newFakeMLflow serves an in-memory MLflow admin API and returns a client
// of it.
func newFakeMLflow(tb testing.TB) (*mlflowtest.Admin, *mlflow.Client) {
	tb.Helper()
	f := mlflowtest.New()
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	c, err := mlflow.NewClient(srv.URL, "admin", func(string) (string, error) { return "x", nil }, srv.Client())
	if err != nil {
		tb.Fatal(err)
	}
	return f, c
}
