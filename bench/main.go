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
	workdir                  string
	keep                     bool
	warmup, dur, timeout     time.Duration
	workers                  int
	experiments, readable    int
	artifactMB               int
	concs                    []int
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "upstream" {
		return serveTrivial(ctx, args[1:], stdout)
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
	fs.StringVar(&o.workdir, "workdir", "", "scratch directory (default: a new temporary one, removed at the end)")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch directory (logs, databases)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up per cell, not measured")
	fs.DurationVar(&o.dur, "d", 5*time.Second, "measured duration per cell")
	fs.DurationVar(&o.timeout, "timeout", 9*time.Minute, "hard limit for the whole run")
	fs.IntVar(&o.workers, "workers", 2, "uvicorn workers of every MLflow")
	fs.IntVar(&o.experiments, "experiments", 5000, "experiments in the search workload")
	fs.IntVar(&o.readable, "readable", 50, "of which the user may read")
	fs.IntVar(&o.artifactMB, "artifact-mb", 200, "artifact size for upload/download, MiB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.concs = []int{1, 32}
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

func randomSecret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return []byte(hex.EncodeToString(b))
}
