package mlflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestErrUnavailable: what retrying can cure (no answer from MLflow, a
// cut-off answer, 5xx, 408, 429) matches ErrUnavailable, also inside joined
// and wrapped errors; MLflow's 4xx refusals and our own errors do not.
// Callers (the policy applying the role mapping) branch on it with
// errors.Is, never on the error's type.
func TestErrUnavailable(t *testing.T) {
	t.Parallel()
	refusedURL := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u := "http://" + ln.Addr().String()
		ln.Close()
		return u
	}()
	answer := func(f http.HandlerFunc) string {
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	status := func(code int) string {
		return answer(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			io.WriteString(w, `{"error_code": "X", "message": "no"}`)
		})
	}
	call := func(base string, timeout time.Duration) error {
		c, err := NewClient(base, "admin", func(string) (string, error) { return "v1.x.y", nil }, &http.Client{Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Roles(context.Background())
		if err == nil {
			t.Fatalf("%s: no error", base)
		}
		return err
	}
	refused := call(refusedURL, time.Second)
	hangUp := call(answer(func(w http.ResponseWriter, r *http.Request) {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}), time.Second)
	truncated := call(answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, `{"roles": [`)
	}), time.Second)
	timeout := call(answer(func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond) }), 50*time.Millisecond)
	api := func(code int) error { return call(status(code), time.Second) }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused", fmt.Errorf("provision: list roles: %w", refused), true},
		{"dropped without an answer", hangUp, true},
		{"truncated", truncated, true},
		{"timeout", timeout, true},
		{"503", fmt.Errorf("provision: %w", api(503)), true},
		{"429", api(429), true},
		{"408", api(408), true},
		{"400 refused", fmt.Errorf("provision: %w", api(400)), false},
		{"403 refused", api(403), false},
		{"our own config error", errors.New(`provision: role "x" names workspace "w" but workspaces are off`), false},
		{"refusal joined with a crash", fmt.Errorf("wrapped: %w", errors.Join(api(400), refused)), true},
		{"crash joined after refusal", errors.Join(fmt.Errorf("a: %w", api(404)), fmt.Errorf("b: %w", api(502))), true},
		{"two refusals", errors.Join(api(400), api(409)), false},
	} {
		if got := errors.Is(tc.err, ErrUnavailable); got != tc.want {
			t.Errorf("%s: errors.Is(%v, ErrUnavailable) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
