package accesskey_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/accesskey"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descope"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
)

// TestExpiredKeyRecordIsLoadedOnce: when the cached management record of a
// key expires, the parallel requests of one CI job cause one load, not one
// each (Descope rate-limits the management API per project).
func TestExpiredKeyRecordIsLoadedOnce(t *testing.T) {
	sim, err := descopesim.New(descopesim.Options{ProjectID: "P2AccessKeyTest00000000001"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dc, err := descope.New(descope.Options{BaseURL: sim.URL(), ProjectID: sim.ProjectID(), ManagementKey: descope.Secret(sim.ManagementKey())})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := descope.NewKeys(dc, descope.KeysOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	verifier, err := descope.NewVerifier(keys, descope.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	a, err := accesskey.New(accesskey.Options{Descope: dc, Verifier: verifier, KeyInfoTTL: time.Minute,
		Now: func() time.Time { return *now.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := sim.CreateAccessKey(descopesim.AccessKeyOptions{Roles: []string{"ci"}})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("127.0.0.1")
	if _, err := a.Authenticate(context.Background(), secret, ip); err != nil {
		t.Fatal(err)
	}
	const path = "/v1/mgmt/accesskey"
	before := sim.Count(path)
	later := start.Add(2 * time.Minute) // the record has expired, the token not
	now.Store(&later)
	// Slow the load down so the requests overlap.
	if err := sim.InjectFault(descopesim.Fault{PathPrefix: path, Delay: 200 * time.Millisecond, Times: 1}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Authenticate(context.Background(), secret, ip); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := sim.Count(path) - before; n != 1 {
		t.Errorf("20 parallel requests loaded the key record %d times, want 1", n)
	}
}

// TestPermittedIPsAreEnforced: Descope only sees the gateway's address, so
// a key restricted to some addresses is enforced here.
func TestPermittedIPsAreEnforced(t *testing.T) {
	sim, err := descopesim.New(descopesim.Options{ProjectID: "P2AccessKeyTest00000000002"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dc, err := descope.New(descope.Options{BaseURL: sim.URL(), ProjectID: sim.ProjectID(), ManagementKey: descope.Secret(sim.ManagementKey())})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := descope.NewKeys(dc, descope.KeysOptions{})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := descope.NewVerifier(keys, descope.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := accesskey.New(accesskey.Options{Descope: dc, Verifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := sim.CreateAccessKey(descopesim.AccessKeyOptions{Roles: []string{"ci"}, PermittedIPs: []string{"10.0.0.0/8", "192.0.2.7"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"10.1.2.3", true},
		{"192.0.2.7", true},
		{"127.0.0.1", false},
		{"192.0.2.8", false},
	} {
		_, err := a.Authenticate(context.Background(), secret, netip.MustParseAddr(tc.ip))
		if got := err == nil; got != tc.want {
			t.Errorf("from %s: err %v, want allowed=%v", tc.ip, err, tc.want)
		}
		if err != nil && !errors.Is(err, accesskey.ErrRejected) {
			t.Errorf("from %s: %v is not a rejection", tc.ip, err)
		}
	}
}

// TestEvictRefusesADeletedKeyAtOnce: a key deleted at Descope keeps working
// from cache (token and record) until Evict names it; then the next use is
// refused, and other keys keep their cached answers.
func TestEvictRefusesADeletedKeyAtOnce(t *testing.T) {
	sim, err := descopesim.New(descopesim.Options{ProjectID: "P2AccessKeyTest00000000003"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dc, err := descope.New(descope.Options{BaseURL: sim.URL(), ProjectID: sim.ProjectID(), ManagementKey: descope.Secret(sim.ManagementKey())})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := descope.NewKeys(dc, descope.KeysOptions{})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := descope.NewVerifier(keys, descope.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := accesskey.New(accesskey.Options{Descope: dc, Verifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	id, secret, err := sim.CreateAccessKey(descopesim.AccessKeyOptions{Roles: []string{"ci"}})
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := sim.CreateAccessKey(descopesim.AccessKeyOptions{Roles: []string{"ci"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, ip := context.Background(), netip.MustParseAddr("127.0.0.1")
	for _, s := range []string{secret, other} {
		if _, err := a.Authenticate(ctx, s, ip); err != nil {
			t.Fatal(err)
		}
	}
	if err := sim.DeleteAccessKey(id); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, secret, ip); err != nil {
		t.Fatalf("before Evict the cached key should still pass (that is what Evict is for): %v", err)
	}
	a.Evict(id)
	if _, err := a.Authenticate(ctx, secret, ip); !errors.Is(err, accesskey.ErrRejected) {
		t.Errorf("after Evict: err %v, want ErrRejected", err)
	}
	calls := sim.Count("/v1/auth/accesskey/exchange")
	if _, err := a.Authenticate(ctx, other, ip); err != nil {
		t.Errorf("another key after Evict: %v", err)
	}
	if n := sim.Count("/v1/auth/accesskey/exchange") - calls; n != 0 {
		t.Errorf("another key was exchanged again (%d calls): Evict dropped more than it should", n)
	}
}
