package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/quickack"
)

// target is one configuration under test: where to send requests and how
// to authenticate them.
type target struct {
	key    string // a … i
	base   string
	auth   func(h http.Header, method string)
	pid    int          // the gateway process whose memory and CPU are sampled; 0: none
	client *http.Client // keep-alive pool shared by the target's cells
}

// workload builds one request; seq is unique within a cell.
type workload struct {
	name  string
	build func(t *target, seq int64) (*http.Request, error)
}

func workloads(fx fixture) []workload {
	read := func(t *target, _ int64) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, t.base+"/api/2.0/mlflow/experiments/get?experiment_id="+fx.RW, nil)
	}
	write := func(t *target, seq int64) (*http.Request, error) {
		var b strings.Builder
		ts := time.Now().UnixMilli()
		fmt.Fprintf(&b, `{"run_id":%q,"metrics":[`, fx.Run)
		for i := range 10 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"key":"m%d","value":%d.5,"timestamp":%d,"step":%d}`, i, seq, ts, seq)
		}
		b.WriteString(`],"tags":[{"key":"bench","value":"` + strconv.FormatInt(seq, 10) + `"}]}`)
		return jsonPost(t.base+"/api/2.0/mlflow/runs/log-batch", b.String())
	}
	search := func(t *target, _ int64) (*http.Request, error) {
		return jsonPost(t.base+"/api/2.0/mlflow/experiments/search", `{"max_results":1000}`)
	}
	return []workload{{"read", read}, {"write", write}, {"search", search}}
}

func jsonPost(url, body string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// result is one cell: a configuration, a workload, a concurrency.
type result struct {
	Config      string `json:"config"`
	Workload    string `json:"workload"`
	Concurrency int    `json:"concurrency"`
	Requests    int    `json:"requests"`
	Errors      int    `json:"errors"`
	// ServerErrors are the 5xx answers among Errors.
	ServerErrors int     `json:"server_errors"`
	Seconds      float64 `json:"seconds"`
	RPS          float64 `json:"rps"`
	P50          float64 `json:"p50_ms"`
	P95          float64 `json:"p95_ms"`
	P99          float64 `json:"p99_ms"`
	MBps         float64 `json:"mb_per_s,omitempty"`
	RSSStartMB   float64 `json:"gateway_rss_start_mb,omitempty"`
	RSSPeakMB    float64 `json:"gateway_rss_peak_mb,omitempty"`
	RSSEndMB     float64 `json:"gateway_rss_end_mb,omitempty"`
	CPUus        float64 `json:"gateway_cpu_us_per_req,omitempty"`
	FirstError   string  `json:"first_error,omitempty"`
	Results      int     `json:"search_results,omitempty"`
}

// newClient is the load generator's client. It keeps TCP_QUICKACK on, as the
// gateway does towards MLflow: uvicorn with several workers leaves Nagle's
// algorithm on, and a client with delayed ACKs would add ~40 ms to every
// request over a kept-alive connection to MLflow directly, (a), (b) and (f),
// making the gateway look faster than MLflow alone.
func newClient(conc int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         quickack.Dial(&net.Dialer{Timeout: 10 * time.Second}),
		Proxy:               nil,
		MaxIdleConns:        conc * 2,
		MaxIdleConnsPerHost: conc * 2,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}}
}

// one sends one request and drains the answer.
func one(ctx context.Context, c *http.Client, t *target, req *http.Request) (status int, body []byte, err error) {
	t.auth(req.Header, req.Method)
	ctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return resp.StatusCode, b, nil
	}
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// drainCap bounds how long requests still in flight at the end of a cell may
// take; later ones are cancelled and counted as errors.
const drainCap = 25 * time.Second

// runCell drives conc closed-loop keep-alive workers for warmup (discarded)
// and then for dur. Requests in flight at the deadline are waited for and
// counted, and the elapsed time runs to the last of them, so slow cells are
// neither cut short nor left running on the server into the next cell.
func runCell(ctx context.Context, t *target, w workload, conc int, warmup, dur time.Duration) result {
	c := t.client
	var seq atomic.Int64
	seq.Store(time.Now().UnixNano() / 1e6 * 1000) // unique steps across cells
	var (
		mu       sync.Mutex
		lats     []time.Duration
		errs     int
		errs5xx  int
		firstErr string
		lastBody []byte
	)
	phase := func(d time.Duration, record bool) time.Duration {
		start := time.Now()
		deadline := start.Add(d)
		ctx, cancel := context.WithDeadline(ctx, deadline.Add(drainCap))
		defer cancel()
		var wg sync.WaitGroup
		for range conc {
			wg.Go(func() {
				var mine []time.Duration
				var bad, bad5xx int
				var last []byte
				for time.Now().Before(deadline) && ctx.Err() == nil {
					req, err := w.build(t, seq.Add(1))
					if err != nil {
						bad++
						continue
					}
					t0 := time.Now()
					status, body, err := one(ctx, c, t, req)
					el := time.Since(t0)
					if err != nil || status != http.StatusOK {
						bad++
						if status >= 500 {
							bad5xx++
						}
						mu.Lock()
						if firstErr == "" {
							firstErr = fmt.Sprintf("status %d err %v: %s", status, err, bytes.TrimSpace(body))
						}
						mu.Unlock()
						continue
					}
					mine = append(mine, el)
					last = body
				}
				if record {
					mu.Lock()
					lats = append(lats, mine...)
					errs += bad
					errs5xx += bad5xx
					if last != nil {
						lastBody = last
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	if warmup > 0 {
		phase(warmup, false)
	}
	firstErr = ""
	s := startSampler(t.pid)
	elapsed := phase(dur, true)
	peak, end, cpu := s.finish()
	r := result{Config: t.key, Workload: w.name, Concurrency: conc, Requests: len(lats), Errors: errs, ServerErrors: errs5xx,
		Seconds: elapsed.Seconds(), FirstError: firstErr, RSSStartMB: mb(s.first), RSSPeakMB: mb(peak), RSSEndMB: mb(end)}
	r.RPS = float64(len(lats)) / elapsed.Seconds()
	if n := len(lats) + errs; n > 0 && t.pid != 0 {
		r.CPUus = cpu / float64(n) * 1e6
	}
	r.P50, r.P95, r.P99 = percentiles(lats)
	if w.name == "search" {
		r.Results = bytes.Count(lastBody, []byte(`"experiment_id"`))
	}
	return r
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

func percentiles(l []time.Duration) (p50, p95, p99 float64) {
	if len(l) == 0 {
		return 0, 0, 0
	}
	slices.Sort(l)
	at := func(q float64) float64 {
		i := int(q*float64(len(l))+0.5) - 1
		i = min(max(i, 0), len(l)-1)
		return float64(l[i]) / 1e6
	}
	return at(0.50), at(0.95), at(0.99)
}

// pattern is an endless non-repeating-looking byte source for uploads.
type pattern struct{ n, size int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.n >= p.size {
		return 0, io.EOF
	}
	k := min(int64(len(b)), p.size-p.n)
	for i := range k {
		b[i] = byte((p.n + i) * 2654435761 >> 13)
	}
	p.n += k
	return int(k), nil
}

// transfer uploads (PUT) or downloads (GET) size bytes through the artifact
// proxy once, at concurrency 1, and reports MB/s and the gateway's memory.
func transfer(ctx context.Context, t *target, method, path string, size int64) result {
	c := t.client
	r := result{Config: t.key, Workload: "artifact-" + map[string]string{http.MethodPut: "upload", http.MethodGet: "download"}[method], Concurrency: 1}
	var body io.Reader
	if method == http.MethodPut {
		body = &pattern{size: size}
	}
	req, err := http.NewRequestWithContext(ctx, method, t.base+"/api/2.0/mlflow-artifacts/artifacts/"+path, body)
	if err != nil {
		r.FirstError = err.Error()
		return r
	}
	if method == http.MethodPut {
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	t.auth(req.Header, method)
	s := startSampler(t.pid)
	start := time.Now()
	resp, err := c.Do(req)
	var n int64
	if err == nil {
		n, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	el := time.Since(start)
	peak, end, cpu := s.finish()
	r.Seconds, r.RSSStartMB, r.RSSPeakMB, r.RSSEndMB = el.Seconds(), mb(s.first), mb(peak), mb(end)
	if t.pid != 0 {
		r.CPUus = cpu * 1e6
	}
	if method == http.MethodGet && err == nil && n != size {
		err = fmt.Errorf("got %d bytes, want %d", n, size)
	}
	if err != nil {
		r.Errors, r.FirstError = 1, err.Error()
		return r
	}
	r.Requests = 1
	r.MBps = float64(size) / (1 << 20) / el.Seconds()
	r.RPS = 1 / el.Seconds()
	r.P50, r.P95, r.P99 = el.Seconds()*1e3, el.Seconds()*1e3, el.Seconds()*1e3
	return r
}
