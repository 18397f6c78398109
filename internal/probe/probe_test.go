package probe

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ready":
			w.Write([]byte(`{"status":"ready"}`))
		case "/not-ready":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"not ready","checks":{"mlflow":"unreachable"}}`))
		case "/moved":
			http.Redirect(w, r, "/ready", http.StatusFound)
		case "/slow":
			time.Sleep(2 * time.Second)
		}
	}))
	t.Cleanup(srv.Close)
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/ready"
	l.Close()

	tests := []struct {
		name      string
		url       string
		timeout   time.Duration
		wantErr   bool
		unhealthy bool
		wantOut   string
	}{
		{name: "ready", url: srv.URL + "/ready", wantOut: `200 OK {"status":"ready"}`},
		{name: "not ready", url: srv.URL + "/not-ready", wantErr: true, unhealthy: true, wantOut: `"mlflow":"unreachable"`},
		{name: "redirect not followed", url: srv.URL + "/moved", wantErr: true, unhealthy: true, wantOut: "302 Found"},
		{name: "nothing listening", url: closed, wantErr: true},
		{name: "timeout", url: srv.URL + "/slow", timeout: 200 * time.Millisecond, wantErr: true},
		{name: "not http", url: "file:///etc/passwd", wantErr: true},
		{name: "no host", url: "http:///ready", wantErr: true},
		{name: "garbage", url: "http://[::1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := Check(context.Background(), tt.url, tt.timeout, &out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Check(%s) = %v; want error %v", tt.url, err, tt.wantErr)
			}
			if got := errors.Is(err, ErrUnhealthy); got != tt.unhealthy {
				t.Errorf("errors.Is(err, ErrUnhealthy) = %v; want %v (err %v)", got, tt.unhealthy, err)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q; want it to contain %q", out.String(), tt.wantOut)
			}
		})
	}
}

func TestDefaultURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		port    string
		want    string
		wantErr bool
	}{
		{"", "http://127.0.0.1:5000/ready", false},
		{"8080", "http://127.0.0.1:8080/ready", false},
		{" 8080 ", "http://127.0.0.1:8080/ready", false},
		{"0", "", true},
		{"70000", "", true},
		{"http", "", true},
	}
	for _, tt := range tests {
		got, err := DefaultURL(func(k string) string {
			if k == "MLFLOW_DESCOPE_PORT" {
				return tt.port
			}
			return ""
		})
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("DefaultURL(port %q) = %q, %v; want %q, error %v", tt.port, got, err, tt.want, tt.wantErr)
		}
	}
}
