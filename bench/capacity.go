package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// capacityResult is the gateway alone in front of the trivial upstream with
// a light load generator in its own process, pinned to the last CPU
// together with the upstream, so that the recording harness does not
// compete with the gateway for the cores.
type capacityResult struct {
	RPS         float64 `json:"rps"`
	Errors      int64   `json:"errors"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	RSSPeakMB   float64 `json:"gateway_rss_peak_mb"`
	CPUus       float64 `json:"gateway_cpu_us_per_req"`
	// Capacity is what the gateway's own CPU time per request allows on
	// all the machine's cores: CPUs / CPU time per request.
	Capacity float64 `json:"capacity_rps"`
	Pinned   string  `json:"pinned,omitempty"` // the CPU list of load generator and upstream; "" unpinned
	Error    string  `json:"error,omitempty"`
}

// lastCPU is the taskset CPU list for the load generator and the upstream,
// or "" when pinning is not possible (one CPU, or no taskset).
func lastCPU() string {
	n := numCPU()
	if n < 2 {
		return ""
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return ""
	}
	return strconv.Itoa(n - 1)
}

// pinned prefixes argv with taskset when cpus is set.
func pinned(cpus string, argv []string) []string {
	if cpus == "" {
		return argv
	}
	return append([]string{"taskset", "-c", cpus}, argv...)
}

// measureCapacity runs `bench load` pinned next to the upstream against the
// gateway at gwURL and samples the gateway process gwPID.
func measureCapacity(ctx context.Context, self, url, cookie string, gwPID, conc int, d time.Duration) capacityResult {
	cpus := lastCPU()
	r := capacityResult{Concurrency: conc, Pinned: cpus}
	argv := pinned(cpus, []string{self, "load", url, cookie, strconv.Itoa(conc), d.String()})
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	s := startSampler(gwPID)
	out, err := cmd.Output()
	peak, _, cpu := s.finish()
	if err != nil {
		r.Error = fmt.Sprintf("load generator: %v", err)
		return r
	}
	var lr loadReport
	if err := json.Unmarshal(out, &lr); err != nil {
		r.Error = fmt.Sprintf("load generator output: %v", err)
		return r
	}
	r.Seconds, r.Errors = lr.Seconds, lr.Errors
	r.RPS = float64(lr.Requests) / lr.Seconds
	r.RSSPeakMB = mb(peak)
	if n := lr.Requests + lr.Errors + lr.WarmUp; n > 0 {
		r.CPUus = cpu / float64(n) * 1e6
		if r.CPUus > 0 {
			r.Capacity = float64(numCPU()) * 1e6 / r.CPUus
		}
	}
	return r
}

type loadReport struct {
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	WarmUp   int64   `json:"warm_up_requests"` // sent before counting (in the gateway's CPU time too)
}

// runLoad is the "load" subcommand: conc keep-alive clients send GET url
// with the Cookie header for d (after a 1 s warm-up) and print a JSON
// loadReport. It records no latencies, so it costs the CPU it shares as
// little as a client can.
func runLoad(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 4 {
		return fmt.Errorf("bench load: want url, cookie, concurrency, duration")
	}
	conc, err := strconv.Atoi(args[2])
	if err != nil || conc < 1 {
		return fmt.Errorf("bench load: concurrency %q", args[2])
	}
	d, err := time.ParseDuration(args[3])
	if err != nil {
		return fmt.Errorf("bench load: duration: %w", err)
	}
	c := newClient(conc)
	var ok, bad, warm atomic.Int64
	var counting atomic.Bool
	phase := func(d time.Duration) time.Duration {
		start := time.Now()
		deadline := start.Add(d)
		var wg sync.WaitGroup
		for range conc {
			wg.Go(func() {
				for time.Now().Before(deadline) && ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
					req.Header.Set("Cookie", args[1])
					resp, err := c.Do(req)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					if !counting.Load() {
						warm.Add(1)
						continue
					}
					if err != nil || resp.StatusCode != http.StatusOK {
						bad.Add(1)
					} else {
						ok.Add(1)
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	phase(time.Second)
	counting.Store(true)
	el := phase(d)
	return json.NewEncoder(stdout).Encode(loadReport{Requests: ok.Load(), Errors: bad.Load(), Seconds: el.Seconds(), WarmUp: warm.Load()})
}
