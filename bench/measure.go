package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/assertion"
)

// report is everything one run measured.
type report struct {
	Started       time.Time `json:"started"`
	CPUs          int       `json:"cpus"`
	BusyBefore    float64   `json:"busy_cores_before"`
	BusyAfter     float64   `json:"busy_cores_after"`
	LoadBefore    string    `json:"loadavg_before"`
	LoadAfter     string    `json:"loadavg_after"`
	Workers       int       `json:"mlflow_workers"`
	Duration      string    `json:"cell_duration"`
	Experiments   int       `json:"experiments"`
	Readable      int       `json:"readable"`
	ArtifactMB    int       `json:"artifact_mb"`
	IdleRSSMB     float64   `json:"gateway_idle_rss_mb"`
	IdleRSSTrivMB float64   `json:"gateway_trivial_idle_rss_mb"`
	Setup         string    `json:"setup_time"`
	Total         string    `json:"total_time"`
	Results       []result  `json:"results"`
	micro         string
}

var targetOrder = []string{"a", "b", "f", "c", "d", "e"}

func measure(ctx context.Context, o options, ps *procs, log io.Writer) (*report, error) {
	rep := &report{Started: time.Now(), CPUs: numCPU(), Workers: o.workers, Duration: o.dur.String(),
		Experiments: o.experiments, Readable: o.readable, ArtifactMB: o.artifactMB, LoadBefore: loadAvg()}
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
	mo := mlflowOpts{bin: mlflowBin, template: tmpl, dir: o.workdir, workers: o.workers, secret: secret}
	servers := map[mlflowKind]*mlflowServer{}
	for _, k := range []mlflowKind{kindPlain, kindBasic, kindPlugin} {
		s, err := startMLflow(ps, k, mo)
		if err != nil {
			return nil, err
		}
		servers[k] = s
	}
	sim, accessKey, err := newSim()
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	tport, err := freePort()
	if err != nil {
		return nil, err
	}
	size := int64(o.artifactMB) << 20
	trivURL := "http://127.0.0.1:" + strconv.Itoa(tport)
	triv, err := ps.start("upstream", []string{self, "upstream", "127.0.0.1:" + strconv.Itoa(tport), strconv.FormatInt(size, 10)},
		[]string{"PATH=" + os.Getenv("PATH")}, o.workdir, filepath.Join(o.workdir, "upstream.log"))
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(log, "bench: waiting for 3 MLflow servers")
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range servers {
		g.Go(func() error { return waitHTTP(gctx, s.p, s.url+"/health", 3*time.Minute) })
	}
	g.Go(func() error { return waitHTTP(gctx, triv, trivURL+"/health", time.Minute) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	gwM, err := startGateway(ps, gwBin, "gateway-mlflow", o.workdir, sim, servers[kindPlugin].url, secret)
	if err != nil {
		return nil, err
	}
	gwT, err := startGateway(ps, gwBin, "gateway-trivial", o.workdir, sim, trivURL, secret)
	if err != nil {
		return nil, err
	}
	for _, gw := range []*gatewayServer{gwM, gwT} {
		if err := waitHTTP(ctx, gw.p, gw.url+"/ready", time.Minute); err != nil {
			return nil, err
		}
	}

	// Users and grants: the same user and grants in basic-auth and in the
	// plugin's MLflow (there under the Descope user ID).
	basicAdmin := func(ctx context.Context, method, path string, body any) error {
		return callJSON(ctx, servers[kindBasic].url, method, path, body, func(r *http.Request) { r.SetBasicAuth(adminUser, adminPassword) })
	}
	pluginAdmin := func(ctx context.Context, method, path string, body any) error {
		return callJSON(ctx, servers[kindPlugin].url, method, path, body, func(r *http.Request) {
			a, _ := signer.Sign(adminUser, "bench-setup")
			r.Header.Set(assertion.Header, a)
		})
	}
	for _, s := range []struct {
		call adminCaller
		user string
		pw   string
	}{{basicAdmin, basicUser, basicPassword}, {pluginAdmin, benchUsername, "unused-password-0001"}} {
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
		"a": {key: "a", label: "MLflow, no auth", base: servers[kindPlain].url, auth: func(http.Header, string) {}},
		"b": {key: "b", label: "MLflow basic-auth (Basic)", base: servers[kindBasic].url, auth: func(h http.Header, _ string) { h.Set("Authorization", basic) }},
		"c": {key: "c", label: "gateway + MLflow, cookie session", base: gwM.url, auth: cookie(cookieM, gwM.url), pid: gwM.p.pid()},
		"d": {key: "d", label: "gateway + MLflow, access key", base: gwM.url, auth: func(h http.Header, _ string) { h.Set("Authorization", "Bearer "+accessKey) }, pid: gwM.p.pid()},
		"e": {key: "e", label: "gateway + trivial upstream", base: gwT.url, auth: cookie(cookieT, gwT.url), pid: gwT.p.pid()},
		"f": {key: "f", label: "MLflow + plugin, direct assertion", base: servers[kindPlugin].url, auth: func(h http.Header, _ string) {
			a, _ := signer.Sign(benchUsername, "")
			h.Set(assertion.Header, a)
		}},
	}
	for _, t := range targets {
		t.client = newClient(64)
		defer t.client.CloseIdleConnections()
	}
	wls := workloads(fx)
	for _, k := range targetOrder { // every configuration must work before anything is timed
		t := targets[k]
		req, _ := wls[0].build(t, 0)
		status, body, err := one(ctx, http.DefaultClient, t, req)
		if err != nil || status != http.StatusOK {
			return nil, fmt.Errorf("bench: (%s) %s: smoke request: status %d err %v: %s", k, t.label, status, err, body)
		}
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
		for _, conc := range o.concs {
			for _, k := range targetOrder {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				warm := o.warmup
				if conc > 1 {
					warm = 0 // the c=1 cell just warmed caches; new connections are cheap
				}
				r := runCell(ctx, targets[k], w, conc, warm, o.dur)
				rep.Results = append(rep.Results, r)
				fmt.Fprintf(log, "bench: %-6s c=%-2d (%s) %8.1f req/s p50 %7.2f ms p99 %7.2f ms err %d %s\n",
					w.name, conc, k, r.RPS, r.P50, r.P99, r.Errors, r.FirstError)
			}
		}
	}
	for _, k := range targetOrder {
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
	rep.LoadAfter = loadAvg()
	rep.BusyAfter = busyCPU(2 * time.Second)
	rep.Total = time.Since(rep.Started).Round(time.Second).String()
	fmt.Fprintf(log, "bench: done in %s; machine busy %.2f cores after (loadavg %s)\n", rep.Total, rep.BusyAfter, rep.LoadAfter)
	return rep, nil
}
