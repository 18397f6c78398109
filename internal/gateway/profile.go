package gateway

import "sync"

// profile is what Descope's /me told us at sign-in: the readable names that
// are not in the session JWT by default.
type profile struct {
	LoginID string
	Email   string
	Name    string
}

// profiles is a bounded in-memory map from user ID to profile. Losing it (a
// restart, another replica) only costs the readable name until the user's
// next sign-in; nothing is decided from it.
type profiles struct {
	mu  sync.Mutex
	max int
	m   map[string]profile
}

func newProfiles(max int) *profiles { return &profiles{max: max, m: map[string]profile{}} }

func (p *profiles) get(userID string) (profile, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.m[userID]
	return v, ok
}

func (p *profiles) put(userID string, v profile) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[userID]; !ok && len(p.m) >= p.max {
		for k := range p.m { // evict an arbitrary entry rather than grow
			delete(p.m, k)
			break
		}
	}
	p.m[userID] = v
}
