package descopesim

import (
	"net/http"
	"sync"
	"testing"
)

// TestRotatedRefreshWorksOnce: with rotation on, of many refreshes sent at
// the same moment with one refresh token exactly one succeeds (checking
// and revoking the token is one step), as replicas racing on one session
// would see it.
func TestRotatedRefreshWorksOnce(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{})
	s.SetRefreshRotation(true)
	mustUser(t, s, User{ID: "U2u", Email: "u@example.com"})
	for range 10 {
		_, ref := mustMint(t, s, "U2u", MintOptions{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		start := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resp := call(t, s, http.MethodPost, "/v1/auth/refresh", testProject+":"+ref, "{}", nil)
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d of 8 concurrent refreshes with one rotated token succeeded, want 1", ok)
		}
	}
}
