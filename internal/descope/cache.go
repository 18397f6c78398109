package descope

import (
	"crypto"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCacheSize bounds the verified-token cache.
const DefaultCacheSize = 50000

// tokenCache remembers tokens that verified, so a browser session's JWT is not
// checked with public-key cryptography on every request (ES384 costs about a
// millisecond). A hit still requires the token to be unexpired and its
// signing key to be in the current key set: removing a key from the JWKS
// ends every cached token it signed at the next request.
type tokenCache struct {
	mu  sync.Mutex
	max int
	m   map[cacheKey]cacheEntry

	hits, misses atomic.Uint64
}

// CacheStats counts lookups in the verified-token cache since the Verifier
// was created.
type CacheStats struct {
	Hits    uint64 // a cached token was returned
	Misses  uint64 // the token was verified with its signature
	Entries int    // tokens cached now
}

type cacheKey struct {
	sum  [sha256.Size]byte
	kind Kind
}

type cacheEntry struct {
	tok *Token
	key *publicKey
}

func newTokenCache(max int) *tokenCache {
	if max <= 0 {
		return nil
	}
	return &tokenCache{max: max, m: make(map[cacheKey]cacheEntry)}
}

func (c *tokenCache) get(k cacheKey, now time.Time, current func(kid string) *publicKey) (*Token, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	if !now.Before(e.tok.Expiry) || !sameKey(current(e.tok.KeyID), e.key) {
		c.mu.Lock()
		delete(c.m, k)
		c.mu.Unlock()
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return e.tok, true
}

func (c *tokenCache) put(k cacheKey, tok *Token, key *publicKey, now time.Time) {
	if c == nil || key == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for ck, e := range c.m {
			if !now.Before(e.tok.Expiry) {
				delete(c.m, ck)
			}
		}
		// Still full of live tokens: drop arbitrary ones rather than grow.
		for ck := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, ck)
		}
	}
	c.m[k] = cacheEntry{tok: tok, key: key}
}

func (c *tokenCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *tokenCache) stats() CacheStats {
	if c == nil {
		return CacheStats{}
	}
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Entries: c.len()}
}

func sameKey(a, b *publicKey) bool {
	if a == nil || b == nil {
		return false
	}
	if a == b {
		return true
	}
	eq, ok := a.key.(interface{ Equal(crypto.PublicKey) bool })
	return ok && a.alg == b.alg && eq.Equal(b.key)
}
