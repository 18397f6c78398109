package app_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var workerReady = regexp.MustCompile(`msg="mlflow ready" worker=(\d+) .*pid=(\d+)`)

// workers returns, per worker index, the PID of its newest process that
// has answered (from the gateway's log).
func (s *stack) workers(t *testing.T) map[int]int {
	t.Helper()
	out := map[int]int{}
	for _, m := range workerReady.FindAllStringSubmatch(s.logs.String(), -1) {
		w, _ := strconv.Atoi(m[1])
		pid, _ := strconv.Atoi(m[2])
		out[w] = pid
	}
	return out
}

// waitWorkers waits until every one of n workers has a ready process other
// than the PIDs in not.
func (s *stack) waitWorkers(t *testing.T, n int, within time.Duration, not ...int) map[int]int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ws := s.workers(t)
		ok := len(ws) == n
		for _, pid := range ws {
			for _, old := range not {
				ok = ok && pid != old
			}
		}
		if ok {
			return ws
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers %v not all ready (excluding %v) after %s\n%s", ws, not, within, lastLines(s.logs.String(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// servedBy counts, per worker, MLflow's own access-log lines (relayed into
// the gateway's log with the worker's index) that contain marker.
func (s *stack) servedBy(marker string) map[int]int {
	out := map[int]int{}
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if !strings.Contains(line, marker) || !strings.Contains(line, `msg="mlflow output"`) {
			continue
		}
		if m := regexp.MustCompile(` worker=(\d+) `).FindStringSubmatch(line); m != nil {
			w, _ := strconv.Atoi(m[1])
			out[w]++
		}
	}
	return out
}

// TestWorkersShareTheLoadAndSurviveACrash runs the real gateway with two
// real MLflow processes: requests from one kept-alive client are spread over
// both; with one killed, every request sent after the kill is answered by
// the other (no 5xx: reads at once, writes once the worker's exit is known,
// see below), /ready stays 200, and the killed one comes back and serves
// again.
func TestWorkersShareTheLoadAndSurviveACrash(t *testing.T) {
	st := startStack(t) // two MLflow processes
	alice := st.session(t, "U2alice")
	before := st.waitWorkers(t, 2, 3*time.Minute)
	code, out := api(t, st.url, alice, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "workers"})
	if code != 200 {
		t.Fatalf("create: %d %v", code, out)
	}
	exp := fmt.Sprint(out["experiment_id"])
	code, out = api(t, st.url, alice, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp})
	if code != 200 {
		t.Fatalf("run: %d %v", code, out)
	}
	run := fmt.Sprint(out["run"].(map[string]any)["info"].(map[string]any)["run_id"])

	read := "/api/2.0/mlflow/experiments/get?experiment_id=" + exp
	for range 20 {
		if code, out := api(t, st.url, alice, "GET", read, nil); code != 200 {
			t.Fatalf("read: %d %v", code, out)
		}
	}
	time.Sleep(300 * time.Millisecond) // MLflow's access log reaches the gateway's log
	if by := st.servedBy("experiments/get?experiment_id=" + exp); by[0] < 5 || by[1] < 5 {
		t.Errorf("20 sequential reads served per worker: %v; want both to take a share", by)
	}

	// Kill worker 1 (its whole process group) while no request is in
	// flight, and keep four clients busy until it is back. Until its
	// supervisor has seen it exit, the dying worker's sockets may still take
	// requests (the kernel tears a large process down for up to a few
	// hundred ms): a read that meets it is sent again to the other worker,
	// a write is not (it may have been acted on — as for any request in
	// flight on a crashed worker), so writes start once the exit is known.
	victim := before[1]
	if err := syscall.Kill(-victim, syscall.SIGKILL); err != nil {
		t.Fatalf("kill worker 1: %v", err)
	}
	var (
		mu       sync.Mutex
		failures []string
		total    int
		written  int // writes sent while the worker was down
		writes   atomic.Bool
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var code int
				var out map[string]any
				write := writes.Load() && (c+i)%2 == 1
				if !write {
					code, out = api(t, st.url, alice, "GET", read, nil)
				} else {
					code, out = api(t, st.url, alice, "POST", "/api/2.0/mlflow/runs/log-metric",
						map[string]any{"run_id": run, "key": "m" + strconv.Itoa(c), "value": i, "timestamp": time.Now().UnixMilli(), "step": i})
				}
				mu.Lock()
				total++
				if write {
					written++
				}
				if code != 200 {
					failures = append(failures, fmt.Sprintf("%d %v", code, out))
				}
				mu.Unlock()
			}
		})
	}
	exited := regexp.MustCompile(`msg="mlflow exited; restarting" worker=1 `)
	readyDuringOutage := 0
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if !writes.Load() && exited.MatchString(st.logs.String()) {
			writes.Store(true)
		}
		if ws := st.workers(t); ws[1] != victim && ws[1] != 0 {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("worker 1 not back after 3 minutes\n%s", lastLines(st.logs.String(), 30))
		}
		resp, err := http.Get(st.url + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				readyDuringOutage++
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d of %d requests sent after the kill failed; want none. First: %s", len(failures), total, failures[0])
	}
	if total < 10 || written < 4 {
		t.Errorf("only %d requests (%d writes) during the outage; the test proved little", total, written)
	}
	if readyDuringOutage > 0 {
		t.Errorf("/ready failed %d times while one worker was still serving", readyDuringOutage)
	}

	// Back: the restarted worker takes requests again.
	marker := "experiments/get?experiment_id=" + exp
	base := st.servedBy(marker)
	for range 20 {
		if code, out := api(t, st.url, alice, "GET", read, nil); code != 200 {
			t.Fatalf("read after restart: %d %v", code, out)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if after := st.servedBy(marker); after[1]-base[1] < 5 {
		t.Errorf("of 20 reads after worker 1 came back it served %d; want a share", after[1]-base[1])
	}
}
