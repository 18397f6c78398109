package observe_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gatewaytest"
)

// TestLoadEveryRequestIsAudited sends 50,000 requests through the gateway
// handler from many goroutines and checks that each left exactly one
// request event, with nothing dropped.
func TestLoadEveryRequestIsAudited(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	t.Parallel()
	const requests, workers = 50000, 64
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			p := newPipeline(t, b.open(t), audit.WriterOptions{})
			g := gatewaytest.New(t, gatewaytest.Options{Events: p.audit, InProcessUpstream: true})
			g.User(t, "U2load")
			sess, _ := g.Mint(t, "U2load", descopesim.MintOptions{SessionTTL: time.Hour})

			start := time.Now()
			var next, ok atomic.Int64
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= requests {
						r := httptest.NewRequest("GET", "/api/2.0/mlflow/runs/get?run_id=r1", nil)
						r.Header.Set("Authorization", "Bearer "+sess)
						w := httptest.NewRecorder()
						g.Handler.ServeHTTP(w, r)
						if w.Code == http.StatusOK {
							ok.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			served := time.Since(start)
			st := p.flush(t)
			total := time.Since(start)
			if ok.Load() != requests {
				t.Fatalf("%d of %d requests succeeded", ok.Load(), requests)
			}
			if st.Dropped != 0 || st.Failed != 0 || st.Invalid != 0 {
				t.Fatalf("writer stats %+v", st)
			}
			n := len(all(t, p.store, audit.Filter{Action: audit.ActionRequest}))
			if n != requests {
				t.Fatalf("request events = %d, want %d", n, requests)
			}
			t.Logf("%s: %d requests in %v (%.0f/s), all %d events stored after %v; stats %+v",
				b.name, requests, served.Round(time.Millisecond), requests/served.Seconds(), n, total.Round(time.Millisecond), st)
		})
	}
}
