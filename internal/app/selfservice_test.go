package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/audit"
)

// TestLastExchange: "last used" on the keys page is the newest successful
// exchange of exactly that key in the audit log (a key whose ID contains
// another's does not count for it).
func TestLastExchange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := audit.Open(ctx, filepath.Join(t.TempDir(), "audit.db"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ev := func(key string, at time.Duration, outcome audit.Outcome) audit.Event {
		return audit.Event{Time: t0.Add(at), Action: audit.ActionAccessKeyExchange, Outcome: outcome,
			Actor: audit.Actor{UserID: key, Method: audit.MethodAccessKey}, Details: map[string]string{"key_id": key}}
	}
	if err := store.Append(ctx, []audit.Event{
		ev("K2one", 0, audit.OutcomeSuccess),
		ev("K2one", time.Hour, audit.OutcomeSuccess),
		ev("K2one", 2*time.Hour, audit.OutcomeFailure),
		ev("K2onemore", 3*time.Hour, audit.OutcomeSuccess),
	}); err != nil {
		t.Fatal(err)
	}
	last := lastExchange(store)
	if got, ok := last(ctx, "K2one", t0.Add(-time.Hour)); !ok || !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("K2one last used %v %v, want %v", got, ok, t0.Add(time.Hour))
	}
	if _, ok := last(ctx, "K2one", t0.Add(90*time.Minute)); ok {
		t.Error("an exchange before the key's creation counted")
	}
	if _, ok := last(ctx, "K2never", time.Time{}); ok {
		t.Error("a key never exchanged has a last use")
	}
}
