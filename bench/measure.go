package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
)

// report is everything one run measured.
type report struct {
	Started       time.Time         `json:"started"`
	CPUs          int               `json:"cpus"`
	BusyBefore    float64           `json:"busy_cores_before"`
	BusyAfter     float64           `json:"busy_cores_after"`
	LoadBefore    string            `json:"loadavg_before"`
	LoadAfter     string            `json:"loadavg_after"`
	Workers       int               `json:"mlflow_workers"`
	Duration      string            `json:"cell_duration"`
	Concs         []int             `json:"concurrencies"`
	Experiments   int               `json:"experiments"`
	Readable      int               `json:"readable"`
	ArtifactMB    int               `json:"artifact_mb"`
	IdleRSSMB     float64           `json:"gateway_idle_rss_mb"`
	IdleRSSTrivMB float64           `json:"gateway_trivial_idle_rss_mb"`
	Setup         string            `json:"setup_time"`
	Total         string            `json:"total_time"`
	Peers         bool              `json:"peers"`
	Skipped       map[string]string `json:"skipped,omitempty"` // configurations that could not run, and why
	Results       []result          `json:"results"`
	UI            []uiResult        `json:"ui,omitempty"`
	UILink        string            `json:"ui_link"`
	UIReps        int               `json:"ui_reps"`
	Capacity      *capacityResult   `json:"capacity,omitempty"`
	micro         string
}

// targetOrder is the order configurations run in (and appear in).
var targetOrder = []string{"a", "b", "g", "f", "c", "d", "e", "h", "i"}

// uiOrder: the configurations a browser can use (not (d): access keys are
// for programs; not (e), (f): no UI there).
var uiOrder = []string{"a", "b", "g", "c", "h", "i"}

func measure(ctx context.Context, o options, ps *procs, log io.Writer) (*report, error) {
	rep := &report{Started: time.Now(), CPUs: numCPU(), Workers: o.workers, Duration: o.dur.String(), Concs: o.concs,
		Experiments: o.experiments, Readable: o.readable, ArtifactMB: o.artifactMB, LoadBefore: loadAvg(),
		Peers: o.peers, Skipped: map[string]string{}, UIReps: o.uiReps, UILink: o.uiLink.String()}
	rep.BusyBefore = busyCPU(2 * time.Second)
	fmt.Fprintf(log, "bench: machine busy %.2f of %d cores before start (loadavg %s)\n", rep.BusyBefore, rep.CPUs, rep.LoadBefore)
	if o.micro != "" {
		b, err := os.ReadFile(o.micro)
		if err != nil {
			return nil, err
		}
		rep.micro = string(b)
	}
	for _, f := range []string{o.mlflowBin, o.python, o.gwBin} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("bench: %w (run make build venv)", err)
		}
	}
	mlflowBin, _ := filepath.Abs(o.mlflowBin)
	gwBin, _ := filepath.Abs(o.gwBin)
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}

	fmt.Fprintf(log, "bench: template database with %d experiments\n", o.experiments)
	tmpl, fx, err := makeTemplate(ctx, o.python, o.workdir, o.experiments)
	if err != nil {
		return nil, err
	}
	secret := randomSecret()
	signer, err := assertion.NewSigner(secret, time.Minute, nil)
	if err != nil {
		return nil, err
	}
	sim, accessKey, err := newSim()
	if err != nil {
		return nil, err
	}
	defer sim.Close()

	// The product as an operator runs it: the gateway starts its own pool
	// of MLflow processes over a copy of the template.
	gwDB := filepath.Join(o.workdir, "gateway-tracking.db")
	if err := copyFile(tmpl, gwDB); err != nil {
		return nil, err
	}
	gwM, err := startLauncher(ps, gwBin, "gateway-mlflow", o.workdir, sim, launcherOpts{
		mlflowBin: mlflowBin, trackingDB: gwDB, uiCache: filepath.Join(o.workdir, "ui-cache"), workers: o.workers, secret: secret})
	if err != nil {
		return nil, err
	}
	// The gateway alone: a trivial upstream, pinned with the light load
	// generator of the capacity cell.
	tport, err := freePort()
	if err != nil {
		return nil, err
	}
	size := int64(o.artifactMB) << 20
	trivURL := "http://127.0.0.1:" + strconv.Itoa(tport)
	triv, err := ps.start("upstream", pinned(lastCPU(), []string{self, "upstream", "127.0.0.1:" + strconv.Itoa(tport), strconv.FormatInt(size, 10)}),
		[]string{"PATH=" + os.Getenv("PATH")}, o.workdir, filepath.Join(o.workdir, "upstream.log"))
	if err != nil {
		return nil, err
	}
	gwT, err := startGateway(ps, gwBin, "gateway-trivial", o.workdir, sim, trivURL, secret)
	if err != nil {
		return nil, err
	}

	// The gateways first, on a machine not yet busy starting the other
	// MLflow servers (a loaded machine can take minutes to start MLflow).
	fmt.Fprintln(log, "bench: waiting for the gateways")
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return waitHTTP(gctx, triv, trivURL+"/health", time.Minute) })
	var workerURLs []string
	g.Go(func() error {
		var err error
		workerURLs, err = gwM.waitWorkers(gctx, o.workers, 10*time.Minute)
		if err == nil {
			err = waitHTTP(gctx, gwM.p, gwM.url+"/ready", 2*time.Minute)
		}
		return err
	})
	g.Go(func() error { return waitHTTP(gctx, gwT.p, gwT.url+"/ready", time.Minute) })
	if err := g.Wait(); err != nil {
		return nil, err
	}

	mo := mlflowOpts{bin: mlflowBin, template: tmpl, dir: o.workdir, workers: o.workers, secret: secret}
	servers := map[mlflowKind]*mlflowServer{}
	for _, k := range []mlflowKind{kindPlain, kindBasic, kindBasicCache, kindPlugin} {
		if !o.wantServer(k) {
			continue
		}
		s, err := startMLflow(ps, k, mo)
		if err != nil {
			return nil, err
		}
		servers[k] = s
	}
	var pr *peerSet
	if o.peers {
		plain := ""
		if s := servers[kindPlain]; s != nil {
			plain = s.url
		}
		pr, err = startPeers(ctx, ps, o, tmpl, plain, rep, log)
		if err != nil {
			return nil, err
		}
		defer pr.close()
	}
	fmt.Fprintln(log, "bench: waiting for the other servers")
	g, gctx = errgroup.WithContext(ctx)
	for _, s := range servers {
		g.Go(func() error { return waitHTTP(gctx, s.p, s.url+"/health", 10*time.Minute) })
	}
	pr.wait(gctx, g)
	if err := g.Wait(); err != nil {
		return nil, err
	}

	// Users and grants: the same user and grants in every MLflow that
	// checks permissions (under the Descope user ID where the gateway
	// provisions it, by email in mlflow-oidc-auth).
	basicAdmin := func(base string) adminCaller {
		return func(ctx context.Context, method, path string, body any) error {
			return callJSON(ctx, base, method, path, body, func(r *http.Request) { r.SetBasicAuth(adminUser, adminPassword) })
		}
	}
	pluginAdmin := func(base string) adminCaller {
		return func(ctx context.Context, method, path string, body any) error {
			return callJSON(ctx, base, method, path, body, func(r *http.Request) {
				a, _ := signer.Sign(adminUser, "bench-setup")
				r.Header.Set(assertion.Header, a)
			})
		}
	}
	type account struct {
		call adminCaller
		user string
		pw   string
	}
	accounts := []account{{pluginAdmin(workerURLs[0]), benchUsername, "unused-password-0001"}}
	if s := servers[kindBasic]; s != nil {
		accounts = append(accounts, account{basicAdmin(s.url), basicUser, basicPassword})
	}
	if s := servers[kindBasicCache]; s != nil {
		accounts = append(accounts, account{basicAdmin(s.url), basicUser, basicPassword})
	}
	if s := servers[kindPlugin]; s != nil {
		accounts = append(accounts, account{pluginAdmin(s.url), benchUsername, "unused-password-0001"})
	}
	for _, s := range accounts {
		if err := s.call(ctx, http.MethodPost, "/api/2.0/mlflow/users/create", map[string]string{"username": s.user, "password": s.pw}); err != nil {
			return nil, err
		}
		if err := grant(ctx, s.call, s.user, fx, o.readable); err != nil {
			return nil, err
		}
	}
	cookieM, err := signIn(ctx, gwM.url, sim)
	if err != nil {
		return nil, err
	}
	cookieT, err := signIn(ctx, gwT.url, sim)
	if err != nil {
		return nil, err
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(basicUser+":"+basicPassword))
	cookie := func(c, origin string) func(http.Header, string) {
		return func(h http.Header, method string) {
			h.Set("Cookie", c)
			if method != http.MethodGet {
				h.Set("Origin", origin)
			}
		}
	}
	targets := map[string]*target{
		"c": {key: "c", base: gwM.url, auth: cookie(cookieM, gwM.url), pid: gwM.p.pid()},
		"d": {key: "d", base: gwM.url, auth: func(h http.Header, _ string) { h.Set("Authorization", "Bearer "+accessKey) }, pid: gwM.p.pid()},
		"e": {key: "e", base: gwT.url, auth: cookie(cookieT, gwT.url), pid: gwT.p.pid()},
	}
	uiTargets := map[string]uiTarget{
		"c": {key: "c", base: gwM.url, cookies: parseCookies(cookieM)},
	}
	if s := servers[kindPlain]; s != nil {
		targets["a"] = &target{key: "a", base: s.url, auth: func(http.Header, string) {}}
		uiTargets["a"] = uiTarget{key: "a", base: s.url}
	}
	if s := servers[kindBasic]; s != nil {
		targets["b"] = &target{key: "b", base: s.url, auth: func(h http.Header, _ string) { h.Set("Authorization", basic) }}
		uiTargets["b"] = uiTarget{key: "b", base: s.url, headers: map[string]string{"Authorization": basic}}
	}
	if s := servers[kindBasicCache]; s != nil {
		targets["g"] = &target{key: "g", base: s.url, auth: func(h http.Header, _ string) { h.Set("Authorization", basic) }}
		uiTargets["g"] = uiTarget{key: "g", base: s.url, headers: map[string]string{"Authorization": basic}}
	}
	if s := servers[kindPlugin]; s != nil {
		targets["f"] = &target{key: "f", base: s.url, auth: func(h http.Header, _ string) {
			a, _ := signer.Sign(benchUsername, "")
			h.Set(assertion.Header, a)
		}}
	}
	if err := pr.setUp(ctx, fx, o.readable, targets, uiTargets); err != nil {
		return nil, err
	}
	for _, t := range targets {
		t.client = newClient(64)
		defer t.client.CloseIdleConnections()
	}
	wls := workloads(fx)
	var order []string
	for _, k := range targetOrder { // every configuration must work before anything is timed
		t := targets[k]
		if t == nil || !o.want(k) {
			continue
		}
		req, _ := wls[0].build(t, 0)
		status, body, err := one(ctx, http.DefaultClient, t, req)
		if err != nil || status != http.StatusOK {
			return nil, fmt.Errorf("bench: (%s) %s: smoke request: status %d err %v: %s", k, labels[k], status, err, body)
		}
		order = append(order, k)
	}
	rep.Setup = time.Since(rep.Started).Round(time.Second).String()
	rss, _ := rssKB(gwM.p.pid())
	rep.IdleRSSMB = mb(rss)
	rss, _ = rssKB(gwT.p.pid())
	rep.IdleRSSTrivMB = mb(rss)
	fmt.Fprintf(log, "bench: setup took %s; gateway idle RSS %.1f MB\n", rep.Setup, rep.IdleRSSMB)

	// Interleaved: each workload and concurrency runs every configuration
	// back to back, so drifting background load hits the pairs alike.
	for _, w := range wls {
		for i, conc := range o.concs {
			for _, k := range order {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				warm := o.warmup
				if i > 0 {
					warm = 0 // the c=1 cell just warmed caches; new connections are cheap
				}
				r := runCell(ctx, targets[k], w, conc, warm, o.dur)
				rep.Results = append(rep.Results, r)
				fmt.Fprintf(log, "bench: %-6s c=%-2d (%s) %8.1f req/s p50 %7.2f ms p99 %7.2f ms err %d (5xx %d) %s\n",
					w.name, conc, k, r.RPS, r.P50, r.P99, r.Errors, r.ServerErrors, truncate(r.FirstError, 120))
			}
		}
	}
	if o.artifactMB > 0 {
		for _, k := range order {
			path := fx.RW + "/" + fx.Run + "/artifacts/bench-" + k + ".bin"
			for _, m := range []string{http.MethodPut, http.MethodGet} {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				r := transfer(ctx, targets[k], m, path, size)
				rep.Results = append(rep.Results, r)
				fmt.Fprintf(log, "bench: %-17s (%s) %7.1f MB/s gateway RSS peak %.1f MB %s\n", r.Workload, k, r.MBps, r.RSSPeakMB, r.FirstError)
			}
		}
	}

	if o.chromium != "" && o.uiReps > 0 {
		if err := gwM.waitUICompressed(ctx, 5*time.Minute); err != nil {
			return nil, err
		}
		for _, k := range uiOrder {
			t, ok := uiTargets[k]
			if !ok || !o.want(k) {
				continue
			}
			reps := o.uiReps
			if k != "a" && k != "c" {
				// The targets compare (c) with (a); the others' pages take
				// 3–10 s each behind MLflow's RBAC: one measured load each.
				reps = min(reps, 1)
			}
			for _, ln := range o.uiLinks() {
				res := uiLoads(ctx, o.chromium, o.workdir, t, ln, reps)
				rep.UI = append(rep.UI, res...)
				for _, r := range res {
					fmt.Fprintf(log, "bench: ui %-4s (%s) %-16s %7.0f ms %9.0f bytes %3d requests; files done %5.0f ms, API %5.0f → %5.0f ms %s\n",
						r.Kind, k, r.Link, r.Ms, r.Bytes, r.Requests, r.FilesMs, r.FirstAPIMs, r.LastAPIMs, truncate(r.Error, 200))
				}
			}
		}
	}

	if o.capacityDur > 0 {
		c := measureCapacity(ctx, self, gwT.url+"/api/2.0/mlflow/experiments/get?experiment_id=1", cookieT, gwT.p.pid(), 32, o.capacityDur)
		rep.Capacity = &c
		fmt.Fprintf(log, "bench: gateway alone, light load generator pinned to CPU %q: %.0f req/s, %.0f µs CPU/req (capacity %.0f req/s), peak RSS %.1f MB %s\n",
			c.Pinned, c.RPS, c.CPUus, c.Capacity, c.RSSPeakMB, c.Error)
	}

	rep.LoadAfter = loadAvg()
	rep.BusyAfter = busyCPU(2 * time.Second)
	rep.Total = time.Since(rep.Started).Round(time.Second).String()
	fmt.Fprintf(log, "bench: done in %s; machine busy %.2f cores after (loadavg %s)\n", rep.Total, rep.BusyAfter, rep.LoadAfter)
	return rep, nil
}

// uiLinks are the links page loads are measured over: loopback, and the
// emulated one unless -ui-link is empty.
func (o options) uiLinks() []link {
	out := []link{{}}
	if o.uiLink.Enabled {
		out = append(out, o.uiLink)
	}
	return out
}

// want reports whether configuration k was asked for (-configs).
func (o options) want(k string) bool { return len(o.configs) == 0 || slices.Contains(o.configs, k) }

// wantServer reports whether an MLflow of kind k is needed.
func (o options) wantServer(k mlflowKind) bool {
	switch k {
	case kindPlain:
		return o.want("a") || o.peers && o.want("i")
	case kindBasic:
		return o.want("b")
	case kindBasicCache:
		return o.want("g")
	case kindPlugin:
		return o.want("f")
	}
	return false
}

// parseCookies turns a Cookie header value back into cookies.
func parseCookies(header string) []*http.Cookie {
	r := http.Request{Header: http.Header{"Cookie": {header}}}
	return r.Cookies()
}
