package main

import (
	"context"
	"sync/atomic"
	"time"
)

// canaries probe, several times a second, exactly the path one kind of
// fault breaks, so the report can say when each stopped hurting:
//   - api (one per replica): a read through that replica to MLflow;
//   - refresh: a browser whose session token has just expired, so the
//     gateway must refresh it at Descope;
//   - exchange: an access key never seen before, so the gateway must
//     exchange it (and load its record) at Descope.
type canaries struct {
	s          *sim
	rec        *recorder
	pl         *pool
	sessionCk  string // the gateway's session cookie name
	refreshCk  string // and the refresh cookie's
	apiExpID   string
	apiKey     string
	boundUser  string
	nextSource atomic.Int64
}

func (c *canaries) run(ctx context.Context, gws []*gateway) {
	for _, g := range gws {
		cl := newClient("canary_api_"+g.name, c.source(), c.pl, c.rec)
		cl.bearer = "Bearer " + c.apiKey
		go runCanary(ctx, cl, g, c.apiExpID)
	}
	go c.refreshLoop(ctx)
	go c.exchangeLoop(ctx)
}

func (c *canaries) source() int { return int(c.nextSource.Add(1)) }

func (c *canaries) refreshLoop(ctx context.Context) {
	cl := newClient("canary_refresh", c.source(), c.pl, c.rec)
	cl.browser = true
	for think(ctx, 240*time.Millisecond, 260*time.Millisecond) {
		sess, refresh, err := c.s.mint(ctx, c.boundUser, -time.Minute)
		if err != nil {
			continue
		}
		cl.mu.Lock()
		cl.cookies = map[string]string{c.sessionCk: sess, c.refreshCk: refresh}
		cl.mu.Unlock()
		cl.do(ctx, "canary_refresh", mustPass, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil, "")
	}
}

// exchangeLoop uses a new key from a new address each time, as a fleet of
// CI runners would: one address exchanging a new key four times a second
// is what the gateway's per-address limit of unseen keys is for.
func (c *canaries) exchangeLoop(ctx context.Context) {
	for think(ctx, 240*time.Millisecond, 260*time.Millisecond) {
		cl := newClient("canary_exchange", c.source(), c.pl, c.rec)
		var key struct {
			KeyID  string `json:"keyId"`
			Secret string `json:"secret"`
		}
		if err := c.s.call(ctx, "POST", "/sim/access-keys", map[string]any{"name": "canary", "boundUserId": c.boundUser, "ttlSeconds": 600}, &key); err != nil {
			continue
		}
		cl.bearer = "Bearer " + key.Secret
		cl.do(ctx, "canary_exchange", mustPass, "GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil, "")
		cl.hc.CloseIdleConnections()
	}
}

// recoveryOf is how long after w was cleared its canaries answered 2xx
// again: for each canary class, the first success that started after the
// fault was cleared; the latest of those. Zero when they never failed.
func recoveryOf(w *window, samples []sample, gws []*gateway) time.Duration {
	var classes []string
	switch w.canary {
	case "api":
		for _, g := range gws {
			classes = append(classes, "canary_api_"+g.name)
		}
	case "replica":
		classes = []string{"canary_api_" + gws[len(gws)-1].name}
	case "refresh":
		classes = []string{"canary_refresh", "canary_exchange"}
	}
	var worst time.Duration
	for _, cl := range classes {
		failedSince := time.Duration(-1)
		for _, s := range samples {
			if s.class != cl || s.start < w.start {
				continue
			}
			ok := s.status >= 200 && s.status < 300
			if !ok && failedSince < 0 {
				failedSince = s.start
			}
			if ok && s.start >= w.cleared {
				if failedSince >= 0 {
					worst = max(worst, s.end-w.cleared)
				}
				break
			}
		}
	}
	return max(worst, 0)
}
