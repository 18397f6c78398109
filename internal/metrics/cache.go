package metrics

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// cacheCollector reads cache statistics at scrape time, so the caches only
// keep two atomic counters each.
type cacheCollector struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	fs   map[string]CacheFunc
}

func newCacheCollector() *cacheCollector {
	return &cacheCollector{
		desc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "cache", "lookups_total"),
			"Cache lookups by cache (descope_token, access_key, provision) and result (hit, miss).",
			[]string{"cache", "result"}, nil),
		fs: map[string]CacheFunc{},
	}
}

func (c *cacheCollector) add(name string, f CacheFunc) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.fs[name]; ok {
		return fmt.Errorf("metrics: cache %q added twice", name)
	}
	c.fs[name] = f
	return nil
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, f := range c.fs {
		hits, misses := f()
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(hits), name, "hit")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(misses), name, "miss")
	}
}
