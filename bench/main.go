// Command bench measures what the gateway costs: it starts MLflow alone,
// MLflow's basic-auth, MLflow with our plugin (reached directly and through
// the gateway, with a cookie session and with an access key) and the gateway
// in front of a trivial upstream, all on loopback, drives the same workloads
// against each, and writes the results into docs/performance.md and a chart.
//
//	go run ./bench [-d 5s] [-out docs/performance.md] [-png docs/performance.png]
//
// scripts/bench.sh (make bench) is the supported entry point.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type options struct {
	out, png, jsonOut, micro string
	mlflowBin, python, gwBin string
	chromium                 string
	oauth2Proxy, oidcMLflow  string
	workdir                  string
	keep, peers              bool
	warmup, dur, timeout     time.Duration
	capacityDur              time.Duration
	workers, uiReps          int
	experiments, readable    int
	artifactMB               int
	concs                    []int
	configs                  []string // only these configurations (default: all)
	uiLink                   link     // emulated for the page loads besides loopback
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "upstream" {
		return serveTrivial(ctx, args[1:], stdout)
	}
	if len(args) > 0 && args[0] == "load" {
		return runLoad(ctx, args[1:], stdout)
	}
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "docs/performance.md", "markdown file whose generated section is replaced")
	fs.StringVar(&o.png, "png", "docs/performance.png", "chart to write")
	fs.StringVar(&o.jsonOut, "json", "", "also write raw results as JSON here")
	fs.StringVar(&o.micro, "micro", "", "go test -bench output to include in the report")
	fs.StringVar(&o.mlflowBin, "mlflow", ".venv/bin/mlflow", "mlflow executable (with the plugin installed)")
	fs.StringVar(&o.python, "python", ".venv/bin/python", "python of the same environment")
	fs.StringVar(&o.gwBin, "gateway", "bin/mlflow-descope-auth", "gateway binary")
	fs.StringVar(&o.chromium, "chromium", "/usr/bin/chromium", "Chromium for the UI page loads (empty: none)")
	fs.BoolVar(&o.peers, "peers", false, "also run the peers: mlflow-oidc-auth and oauth2-proxy")
	fs.StringVar(&o.oauth2Proxy, "oauth2-proxy", "bin/tools/oauth2-proxy", "oauth2-proxy binary (-peers)")
	fs.StringVar(&o.oidcMLflow, "oidc-mlflow", "bin/peers/oidc-venv/bin/mlflow", "mlflow of the mlflow-oidc-auth environment (-peers)")
	fs.StringVar(&o.workdir, "workdir", "", "scratch directory (default: a new temporary one, removed at the end)")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch directory (logs, databases)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up per cell, not measured")
	fs.DurationVar(&o.dur, "d", 5*time.Second, "measured duration per cell")
	fs.DurationVar(&o.capacityDur, "capacity-d", 10*time.Second, "duration of the gateway-alone capacity cell (0: none)")
	fs.DurationVar(&o.timeout, "timeout", 40*time.Minute, "hard limit for the whole run")
	fs.IntVar(&o.workers, "workers", defaultWorkers(), "MLflow workers of every server (uvicorn workers; the gateway's processes)")
	fs.IntVar(&o.uiReps, "ui-reps", 3, "cold and warm page loads per configuration (0: none)")
	concs := fs.String("c", "1,16,32", "concurrencies")
	configs := fs.String("configs", "", "only these configurations, e.g. a,c (default: all)")
	uiLink := fs.String("ui-link", "50,20", "page loads also over an emulated link: Mbit/s,RTT ms (empty: loopback only)")
	fs.IntVar(&o.experiments, "experiments", 5000, "experiments in the search workload")
	fs.IntVar(&o.readable, "readable", 50, "of which the user may read")
	fs.IntVar(&o.artifactMB, "artifact-mb", 200, "artifact size for upload/download, MiB (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, p := range []*string{&o.oauth2Proxy, &o.oidcMLflow, &o.chromium} {
		if *p != "" {
			*p, _ = filepath.Abs(*p) // the peers run in their own directories
		}
	}
	if *uiLink != "" {
		mbps, rtt, ok := strings.Cut(*uiLink, ",")
		var err1, err2 error
		o.uiLink.Mbps, err1 = strconv.ParseFloat(mbps, 64)
		o.uiLink.RTTms, err2 = strconv.ParseFloat(rtt, 64)
		if !ok || err1 != nil || err2 != nil || o.uiLink.Mbps <= 0 || o.uiLink.RTTms < 0 {
			return fmt.Errorf("bench: -ui-link %q: want Mbit/s,RTT ms like 50,20", *uiLink)
		}
		o.uiLink.Enabled = true
	}
	if *configs != "" {
		o.configs = strings.Split(*configs, ",")
	}
	for _, c := range strings.Split(*concs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return fmt.Errorf("bench: -c %q: want concurrencies like 1,16,32", *concs)
		}
		o.concs = append(o.concs, n)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.workdir == "" {
		d, err := os.MkdirTemp("", "mlflow-descope-bench-")
		if err != nil {
			return err
		}
		o.workdir = d
		if !o.keep {
			defer os.RemoveAll(d)
		}
	}
	ps, err := newProcs(o.workdir + "/pgids")
	if err != nil {
		return err
	}
	defer ps.stopAll()
	rep, err := measure(ctx, o, ps, stdout)
	if err != nil {
		if o.keep || errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintln(stderr, "logs in", o.workdir)
		}
		return err
	}
	return rep.write(o)
}

// defaultWorkers is what the gateway picks: one per core, 2 to 8.
func defaultWorkers() int { return min(max(numCPU(), 2), 8) }

func randomSecret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return []byte(hex.EncodeToString(b))
}
