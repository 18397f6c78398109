package provision

import "sync/atomic"

// cacheStats counts Ensure calls by whether the cache answered.
type cacheStats struct {
	hits, misses atomic.Uint64
}

// CacheStats reports how many Ensure calls were answered from the cache
// (hits) and how many had to check MLflow (misses).
func (p *Provisioner) CacheStats() (hits, misses uint64) {
	return p.stats.hits.Load(), p.stats.misses.Load()
}
