package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// gateway is one bin/mlflow-descope-auth process: replica A supervises the
// MLflow child, replica B is in external mode in front of that child
// (docs/deployment.md, "Several gateway replicas"). Both share the audit
// database, through the pausable TCP proxy.
type gateway struct {
	name string
	url  string
	argv []string
	env  []string
	dir  string
	ps   *procs

	mu sync.Mutex
	p  *proc
	up atomic.Bool // /ready answered 200 at the last probe

	peakRSS atomic.Int64 // KiB, over every process of this replica
}

func newGateway(ps *procs, name, dir string, env []string, extra ...string) (*gateway, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, name)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	g := &gateway{name: name, url: "http://127.0.0.1:" + strconv.Itoa(port), dir: dir, ps: ps, env: env}
	g.argv = append([]string{"serve", "--port", strconv.Itoa(port), "--data-dir", data}, extra...)
	return g, nil
}

func (g *gateway) logPath() string { return filepath.Join(g.dir, g.name+".log") }

// start runs the process and waits for /ready.
func (g *gateway) start(ctx context.Context, bin string, within time.Duration) error {
	p, err := g.ps.start(g.name, append([]string{bin}, g.argv...), g.env, g.dir, g.logPath())
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.p = p
	g.mu.Unlock()
	return waitHTTP(ctx, p, g.url+"/ready", within)
}

func (g *gateway) proc() *proc {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.p
}

// stop ends the process with sig (SIGTERM: drain and flush; SIGKILL: crash).
func (g *gateway) stop(sig syscall.Signal) {
	g.up.Store(false)
	g.proc().stop(sig, 40*time.Second)
}

var mlflowStarted = regexp.MustCompile(`mlflow started.*pid=(\d+).*url=(http://127\.0\.0\.1:\d+)`)

// mlflowChild reads the supervised MLflow's process ID and URL from the log
// (the last start: the supervisor restarts it after a crash).
func (g *gateway) mlflowChild() (pid int, url string, err error) {
	b, err := os.ReadFile(g.logPath())
	if err != nil {
		return 0, "", err
	}
	all := mlflowStarted.FindAllSubmatch(b, -1)
	if len(all) == 0 {
		return 0, "", fmt.Errorf("soak: no \"mlflow started\" line in %s", g.logPath())
	}
	m := all[len(all)-1]
	pid, _ = strconv.Atoi(string(m[1]))
	return pid, string(m[2]), nil
}

// pool is what a load balancer with health checks would do: requests go to
// a replica whose /ready answered 200 at the last probe (every 100 ms).
type pool struct {
	gws []*gateway
}

func (pl *pool) watch(ctx context.Context) {
	c := &http.Client{Timeout: time.Second}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		for _, g := range pl.gws {
			ok := false
			if resp, err := c.Get(g.url + "/ready"); err == nil {
				resp.Body.Close()
				ok = resp.StatusCode == http.StatusOK
			}
			g.up.Store(ok)
			if p := g.proc(); p != nil {
				if kb, err := rssKB(p.pid()); err == nil && kb > g.peakRSS.Load() {
					g.peakRSS.Store(kb)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pick returns a healthy replica, or any when none is.
func (pl *pool) pick() *gateway {
	var up []*gateway
	for _, g := range pl.gws {
		if g.up.Load() {
			up = append(up, g)
		}
	}
	if len(up) == 0 {
		return pl.gws[rand.IntN(len(pl.gws))]
	}
	return up[rand.IntN(len(up))]
}
