package usersync_test

import (
	"context"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/event"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/lease"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/usersync"
)

// TestSyncUnderALease: the sync runs while the lease is held, its runs
// name the replica, and the status page says where it runs.
func TestSyncUnderALease(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	l, err := lease.New(context.Background(), lease.Options{Name: "usersync", Holder: "gw-test"})
	if err != nil {
		t.Fatal(err)
	}
	runs := make(chan event.SyncRun, 4)
	s, err := usersync.New(usersync.Options{Descope: descopeFor(t, h.sim), MLflow: fakeUsers(nil), Provisioner: h.prov,
		AdminUsername: "a", Interval: time.Hour, Lease: l,
		Events: event.SinkFunc(func(r *event.Record) {
			for _, e := range r.Events {
				if run, ok := e.(event.SyncRun); ok {
					runs <- run
				}
			}
		})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var run event.SyncRun
	select {
	case run = <-runs:
	case <-time.After(10 * time.Second):
		t.Fatal("no sync run")
	}
	if run.Replica != "gw-test" || run.Err != nil {
		t.Errorf("run %+v, want one by gw-test", run)
	}
	st := usersync.Status(s, nil)
	ls, _ := st["lease"].(lease.Status)
	if st["runs_here"] != true || ls.Shared || ls.Self != "gw-test" {
		t.Errorf("status %v while holding the lease", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if st := usersync.Status(s, nil); st["runs_here"] != false {
		t.Errorf("runs_here = %v after Run returned", st["runs_here"])
	}
}
