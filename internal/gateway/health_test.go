package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestReadyNamesWhatIsMissing: /ready is 503 until each part is in place and
// says which one is not, so an operator (and a load balancer) knows.
func TestReadyNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	for _, tc := range []struct {
		name   string
		change func(*Options)
		check  string // the check that must fail; "" = ready
	}{
		{"all in place", func(*Options) {}, ""},
		{"keys not loaded", func(o *Options) { o.KeysReady = func() bool { return false } }, "descope_keys"},
		{"mlflow down", func(o *Options) { o.Ready = func(context.Context) error { return down } }, "mlflow"},
		{"mapping not applied", func(o *Options) { o.MappingReady = func() bool { return false } }, "role_mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{
				KeysReady:    func() bool { return true },
				Ready:        func(context.Context) error { return nil },
				MappingReady: func() bool { return true },
			}
			tc.change(&o)
			rec := httptest.NewRecorder()
			(&handler{opts: o}).ready(rec, httptest.NewRequest("GET", "/ready", nil))
			body := rec.Body.String()
			var got struct {
				Status string            `json:"status"`
				Checks map[string]string `json:"checks"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("ready body %q: %v", body, err)
			}
			for name, v := range got.Checks {
				if failed := v != "ok"; failed != (name == tc.check) {
					t.Errorf("check %s = %q", name, v)
				}
			}
			want := http.StatusOK
			if tc.check != "" {
				want = http.StatusServiceUnavailable
				if _, ok := got.Checks[tc.check]; !ok {
					t.Errorf("no %s check in %s", tc.check, body)
				}
			}
			if rec.Code != want {
				t.Errorf("ready: %d %s, want %d", rec.Code, body, want)
			}
		})
	}
}
