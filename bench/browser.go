package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// uiTarget is one configuration's web UI and how a browser is signed in to
// it: cookies set before loading, or headers sent with every request.
type uiTarget struct {
	key     string
	base    string
	cookies []*http.Cookie
	headers map[string]string
}

// uiResult is one configuration's page loads: cold (empty browser cache)
// and warm (the same page opened again), medians of reps.
type uiResult struct {
	Config   string  `json:"config"`
	Link     string  `json:"link"` // "loopback" or the emulated link
	Kind     string  `json:"kind"` // cold or warm
	Ms       float64 `json:"ms"`
	Bytes    float64 `json:"bytes"`
	Requests int     `json:"requests"`
	Reps     int     `json:"reps"`
	// Where the time went (from the page's Resource Timing, ms after the
	// navigation started): the last script or stylesheet received, the
	// first API call sent, the last API call answered.
	FilesMs    float64 `json:"files_ms"`
	FirstAPIMs float64 `json:"first_api_ms"`
	LastAPIMs  float64 `json:"last_api_ms"`
	Error      string  `json:"error,omitempty"`
}

// timing is what resourceTiming reports.
type timing struct {
	Files    float64 `json:"files"`
	FirstAPI float64 `json:"firstApi"`
	LastAPI  float64 `json:"lastApi"`
}

// resourceTiming summarizes the page's Resource Timing entries.
const resourceTiming = `(() => {
  const r = performance.getEntriesByType("resource");
  let files = 0, firstApi = 0, lastApi = 0;
  for (const e of r) {
    if (/\/(ajax-api|api|graphql)\//.test(e.name)) {
      firstApi = firstApi === 0 ? e.startTime : Math.min(firstApi, e.startTime);
      lastApi = Math.max(lastApi, e.responseEnd);
    } else if (e.initiatorType === "script" || e.initiatorType === "link" || /\.(js|css)(\?|$)/.test(e.name)) {
      files = Math.max(files, e.responseEnd);
    }
  }
  return {files, firstApi, lastApi};
})()`

// link is a network link Chromium emulates (Network.emulateNetworkConditionsByRule):
// what a user away from the server sees. The zero value is loopback.
type link struct {
	Mbps    float64 // download; upload is a fifth of it
	RTTms   float64
	Enabled bool
}

func (l link) String() string {
	if !l.Enabled {
		return "loopback"
	}
	return fmt.Sprintf("%g Mbit/s, %g ms", l.Mbps, l.RTTms)
}

// listShown is true once the experiments list shows an experiment of the
// fixture (every configuration's user may read some of them).
const listShown = `/bench-(rw|search-\d+)/.test(document.body ? document.body.innerText : "")`

// netMeter adds up what the tab received: bytes on the wire (headers and
// encoded bodies) and requests, cache hits included as requests.
type netMeter struct {
	mu       sync.Mutex
	bytes    float64
	requests int
	docs     []string // documents requested (to explain a failed load)
}

func (m *netMeter) reset() (float64, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, n := m.bytes, m.requests
	m.bytes, m.requests, m.docs = 0, 0, nil
	return b, n
}

// uiLoads measures t's page loads in a fresh headless Chromium: one
// unmeasured load (server-side warm-up), then reps times: the browser cache
// is cleared and the experiments list is opened in a new tab (cold), then
// opened again from about:blank (warm). Time runs from the navigation to
// the list showing an experiment.
func uiLoads(ctx context.Context, chromium, dir string, t uiTarget, ln link, reps int) []uiResult {
	fail := func(err error) []uiResult {
		return []uiResult{{Config: t.key, Link: ln.String(), Kind: "cold", Error: err.Error()},
			{Config: t.key, Link: ln.String(), Kind: "warm", Error: err.Error()}}
	}
	profile, err := os.MkdirTemp(dir, "chromium-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(profile)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1400, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil {
		return fail(fmt.Errorf("start chromium: %w", err))
	}
	url := t.base + "/#/experiments"
	type sample struct {
		ms, bytes float64
		requests  int
		tm        timing
	}
	var cold, warm []sample
	for i := -1; i < reps; i++ {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		if _, err := chromedp.Call(bctx, network.ClearBrowserCache, cdp.Empty{}); err != nil {
			return fail(fmt.Errorf("clear cache: %w", err))
		}
		tab, cancelTab := chromedp.NewContext(bctx)
		m, err := prepareTab(tab, t, ln)
		if err != nil {
			cancelTab()
			return fail(err)
		}
		var c, w sample
		c.ms, c.bytes, c.requests, c.tm, err = loadOnce(tab, m, url)
		if err == nil {
			if err = chromedp.Do(tab, chromedp.Navigate("about:blank")); err == nil {
				w.ms, w.bytes, w.requests, w.tm, err = loadOnce(tab, m, url)
			}
		}
		cancelTab()
		if err != nil {
			return fail(err)
		}
		if i >= 0 {
			cold, warm = append(cold, c), append(warm, w)
		}
	}
	summary := func(kind string, ss []sample) uiResult {
		pick := func(f func(sample) float64) float64 {
			v := make([]float64, len(ss))
			for i, s := range ss {
				v[i] = f(s)
			}
			return median(v)
		}
		n := make([]int, len(ss))
		for i, s := range ss {
			n[i] = s.requests
		}
		return uiResult{Config: t.key, Link: ln.String(), Kind: kind, Reps: len(ss), Requests: medianInt(n),
			Ms: pick(func(s sample) float64 { return s.ms }), Bytes: pick(func(s sample) float64 { return s.bytes }),
			FilesMs:    pick(func(s sample) float64 { return s.tm.Files }),
			FirstAPIMs: pick(func(s sample) float64 { return s.tm.FirstAPI }),
			LastAPIMs:  pick(func(s sample) float64 { return s.tm.LastAPI })}
	}
	return []uiResult{summary("cold", cold), summary("warm", warm)}
}

// prepareTab signs the tab in and starts counting its traffic.
func prepareTab(tab context.Context, t uiTarget, ln link) (*netMeter, error) {
	m := &netMeter{}
	if err := chromedp.Listen(tab, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventLoadingFinished:
			m.mu.Lock()
			m.bytes += ev.EncodedDataLength
			m.mu.Unlock()
		case *network.EventRequestWillBeSent:
			m.mu.Lock()
			m.requests++
			if ev.Type == network.ResourceTypeDocument {
				m.docs = append(m.docs, ev.Request.URL)
			}
			m.mu.Unlock()
		}
	}); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if ln.Enabled {
		down := ln.Mbps * 1e6 / 8
		if _, err := chromedp.Call(tab, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Latency: ln.RTTms, DownloadThroughput: down, UploadThroughput: down / 5}},
		}); err != nil {
			return nil, fmt.Errorf("emulate %s: %w", ln, err)
		}
	}
	if len(t.cookies) > 0 {
		var cs []*network.CookieParam
		for _, c := range t.cookies {
			cs = append(cs, &network.CookieParam{Name: c.Name, Value: c.Value, URL: t.base + "/"})
		}
		if _, err := chromedp.Call(tab, network.SetCookies, network.SetCookiesParams{Cookies: cs}); err != nil {
			return nil, fmt.Errorf("cookies: %w", err)
		}
	}
	if len(t.headers) > 0 {
		h := network.Headers{}
		for k, v := range t.headers {
			h[k] = v
		}
		if _, err := chromedp.Call(tab, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h}); err != nil {
			return nil, fmt.Errorf("headers: %w", err)
		}
	}
	return m, nil
}

// loadOnce opens url and waits for the experiments list.
func loadOnce(tab context.Context, m *netMeter, url string) (ms, bytes float64, requests int, tm timing, err error) {
	ctx, cancel := context.WithTimeout(tab, 90*time.Second)
	defer cancel()
	m.reset()
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return 0, 0, 0, tm, fmt.Errorf("open %s: %w", url, err)
	}
	if err := waitFor(ctx, listShown); err != nil {
		body, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 300) : ""`))
		m.mu.Lock()
		docs := strings.Join(m.docs, " ")
		m.mu.Unlock()
		return 0, 0, 0, tm, fmt.Errorf("experiments list not shown: %w (documents: %s; page: %q)", err, docs, body)
	}
	el := time.Since(start)
	bytes, requests = m.reset()
	tm, _ = chromedp.Run(ctx, chromedp.Evaluate[timing](resourceTiming))
	if os.Getenv("BENCH_UI_DEBUG") != "" {
		// Every resource: start, first byte, end (ms), bytes, URL.
		dump, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource")).map(e =>
			[e.startTime|0, e.responseStart|0, e.responseEnd|0, e.transferSize, e.name.replace(location.origin, "")].join(" ")).join("\n")`))
		fmt.Fprintf(os.Stderr, "ui %s %.0f ms:\n%s\n", url, float64(el)/1e6, dump)
	}
	return float64(el) / 1e6, bytes, requests, tm, nil
}

// waitFor evaluates expr in the page every 10 ms until it is true. An
// evaluation that fails (the page's JavaScript context is being replaced
// right after a navigation) is tried again; the last error is returned
// when ctx ends.
func waitFor(ctx context.Context, expr string) error {
	var last error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return last
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianInt(v []int) int {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
