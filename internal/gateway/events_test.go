package gateway_test

import (
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gatewaytest"
)

// TestAbortedRequestStillReportsItsEvents: a request whose proxying breaks
// off (MLflow drops the connection mid-answer, so the handler aborts with
// http.ErrAbortHandler) still hands its record, with the refresh it did, to
// the sink: the audit trail loses nothing the request did.
func TestAbortedRequestStillReportsItsEvents(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []*event.Record
	sink := event.SinkFunc(func(r *event.Record) {
		if r.Request == nil {
			return
		}
		mu.Lock()
		c := *r
		got = append(got, &c)
		mu.Unlock()
	})
	breakOff := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"experiments": [`)
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	})
	g := gatewaytest.New(t, gatewaytest.Options{Tracking: breakOff, Events: sink})
	g.User(t, "U2abort")
	old, oldRef := g.Mint(t, "U2abort", descopesim.MintOptions{SessionTTL: -time.Minute})
	c := browser(t)
	u, _ := url.Parse(g.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "mlflow_ds", Value: old, Path: "/"}, {Name: "mlflow_dsr", Value: oldRef, Path: "/"}})
	resp, err := c.Get(g.URL + "/api/2.0/mlflow/experiments/search")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("the broken answer arrived whole")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		var rec *event.Record
		for _, r := range got {
			if r.Request.Proxied {
				rec = r
			}
		}
		mu.Unlock()
		if rec != nil {
			if rec.Request.Actor == nil || rec.Request.Actor.UserID != "U2abort" || len(rec.Events) != 1 {
				t.Fatalf("record = %+v, events %+v", rec.Request, rec.Events)
			}
			if e, ok := rec.Events[0].(event.Refresh); !ok || e.Actor.UserID != "U2abort" {
				t.Errorf("event = %#v, want the refresh", rec.Events[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the aborted request's record never reached the sink")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
