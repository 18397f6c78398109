package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/descopesim"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/gateway"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/ratelimit"
)

// bogusJWT is a well-formed ES256 token with a random kid, signed by a key
// Descope never published.
func bogusJWT(t testing.TB, key *ecdsa.PrivateKey, projectID string) string {
	t.Helper()
	var kid [8]byte
	rand.Read(kid[:])
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"sub": "U2attacker", "iss": projectID, "drn": "DS", "roles": []string{"admin"},
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	})
	tok.Header["kid"] = hex.EncodeToString(kid[:])
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// TestBogusCredentialFlood sends 10,000 requests with random bogus tokens and
// keys: Descope sees a handful of JWKS fetches and a bounded number of
// exchanges, nothing reaches MLflow, and memory stays flat.
func TestBogusCredentialFlood(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		limits gateway.Limits
	}{
		// One client address: the failure limit cuts the flood short.
		{"default limits", gateway.Limits{}},
		// As if from many addresses: no per-IP failure limit at all, so only
		// the caches, the forced-refetch interval and the exchange limits hold.
		{"without failure limit", gateway.Limits{FailuresPerIP: ratelimit.New(1<<30, time.Nanosecond, 10, nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{realistic: true, limits: tc.limits})
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			h.sim.ResetCounts()
			before := heapMB()
			const n = 10000
			var statuses sync.Map
			var wg sync.WaitGroup
			var next atomic.Int64
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > n {
							return
						}
						cred := "Bearer " + bogusJWT(t, key, h.sim.ProjectID())
						if i%2 == 0 {
							cred = fmt.Sprintf("Bearer bogus-key-%d-%x", i, i*7919)
						}
						req, _ := http.NewRequest("GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", nil)
						req.Header.Set("Authorization", cred)
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							t.Error(err)
							return
						}
						resp.Body.Close()
						c, _ := statuses.LoadOrStore(resp.StatusCode, new(atomic.Int64))
						c.(*atomic.Int64).Add(1)
					}
				}()
			}
			wg.Wait()
			after := heapMB()
			counts := map[int]int64{}
			statuses.Range(func(k, v any) bool { counts[k.(int)] = v.(*atomic.Int64).Load(); return true })
			jwks := h.sim.Count("/v2/keys/" + h.sim.ProjectID())
			exchanges := h.sim.Count("/v1/auth/accesskey/exchange")
			t.Logf("statuses %v; JWKS fetches %d; exchanges %d; heap %.1f MB -> %.1f MB", counts, jwks, exchanges, before, after)
			for code := range counts {
				if code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
					t.Errorf("status %d for a bogus credential", code)
				}
			}
			if h.up.count() != 0 {
				t.Errorf("%d bogus requests reached MLflow", h.up.count())
			}
			if jwks > 5 {
				t.Errorf("JWKS fetches = %d, want a handful at most", jwks)
			}
			if exchanges > 300 {
				t.Errorf("exchanges = %d for 5,000 random keys, want them limited", exchanges)
			}
			if after-before > 30 {
				t.Errorf("heap grew %.1f MB", after-before)
			}
		})
	}
}

func TestSignInLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{limits: gateway.Limits{SignInPerUser: ratelimit.New(3, time.Hour, 10, nil)}})
	h.user(t, "U2busy")
	var last int
	for i := range 5 {
		sess, ref := h.mint(t, "U2busy", descopesim.MintOptions{})
		resp := h.signIn(t, browser(t), sess, ref)
		resp.Body.Close()
		last = resp.StatusCode
		if i < 3 && last != 200 {
			t.Fatalf("sign-in %d: %d", i, last)
		}
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("5th sign-in of one user within the limit window: %d, want 429", last)
	}
}

// TestFloodDoesNotLockOutKnownUsers: an address over its failure budget gets
// 429 for new credentials, but a user behind it whose session was verified
// before keeps working.
func TestFloodDoesNotLockOutKnownUsers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{limits: gateway.Limits{FailuresPerIP: ratelimit.New(5, time.Hour, 100, nil)}})
	h.user(t, "U2neighbour")
	h.user(t, "U2late")
	good, _ := h.mint(t, "U2neighbour", descopesim.MintOptions{})
	late, _ := h.mint(t, "U2late", descopesim.MintOptions{})
	get := func(token string) int {
		resp, _ := do(t, browser(t), "GET", h.gw.URL+"/api/2.0/mlflow/experiments/search", map[string]string{"Authorization": "Bearer " + token}, "")
		return resp.StatusCode
	}
	if s := get(good); s != 200 {
		t.Fatalf("before the flood: %d", s)
	}
	for range 10 {
		get("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.bogus")
	}
	if s := get("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.bogus2"); s != http.StatusTooManyRequests {
		t.Errorf("flooding address: %d, want 429", s)
	}
	if s := get(good); s != 200 {
		t.Errorf("known session from the flooded address: %d, want 200", s)
	}
	if s := get(late); s != http.StatusTooManyRequests {
		t.Errorf("a session never verified before, from the flooded address: %d, want 429", s)
	}
}
