// Command soak holds the whole stack under sustained load while things
// fail, and checks that no decision, write or audit event goes wrong.
//
// It drives the real binaries as processes: bin/descope-sim (Descope),
// bin/mlflow-descope-auth twice (replica A supervises the MLflow child of
// .venv's mlflow; replica B is in external mode in front of it), both on
// one PostgreSQL audit database reached through a TCP proxy the harness can
// cut. For the run's duration, simulated browsers (cookie sessions, reads,
// searches, page loads), training jobs (access keys: log-batch, artifacts up
// and down, registry writes) and attackers (bad credentials, other users'
// data) use the replicas as a load balancer would, while on a schedule
// Descope fails (5xx, 429 with Retry-After, timeouts on refresh, exchange
// and the key set), the MLflow child is killed, the audit database goes
// away for 5 s, and replica B is stopped and started again. Afterwards every
// acknowledged write is read back and every acknowledged request is looked
// up in the audit store.
//
//	go run ./soak -postgres postgres://… [-d 60s] [-clients 200] [-out docs/reliability.md]
//
// scripts/soak.sh (make soak) is the supported entry point; scripts/test.sh
// runs a short version (-short). The exit status is 1 when any of the
// zero-tolerance counts is not zero.
package main

import (
	"context"
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
	gwBin, simBin, mlflowBin string
	postgres                 string
	workdir                  string
	keep                     bool
	dur, timeout             time.Duration
	clients                  int
	short                    bool
	out                      string
	replicaSignal            string
	workers                  int
	sessionTTL               time.Duration
	logLevel                 string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.gwBin, "gateway", "bin/mlflow-descope-auth", "gateway binary")
	fs.StringVar(&o.simBin, "sim", "bin/descope-sim", "Descope simulator binary")
	fs.StringVar(&o.mlflowBin, "mlflow", ".venv/bin/mlflow", "mlflow executable (with the plugin installed)")
	fs.StringVar(&o.postgres, "postgres", os.Getenv("AUDIT_TEST_POSTGRES_DSN"), "PostgreSQL DSN; a fresh database is created in it and dropped at the end")
	fs.StringVar(&o.workdir, "workdir", "", "scratch directory (default: a new temporary one, removed at the end)")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch directory and the database")
	fs.DurationVar(&o.dur, "d", 60*time.Second, "duration of the load")
	fs.IntVar(&o.clients, "clients", 200, "concurrent clients: 60% browsers, 30% jobs with access keys, 10% attackers")
	fs.BoolVar(&o.short, "short", false, "the version make test runs: -d 24s -clients 40 -workers 2")
	fs.StringVar(&o.out, "out", "", "markdown file whose soak section is replaced with the results")
	fs.StringVar(&o.replicaSignal, "replica-signal", "TERM", "how replica B is stopped: TERM (drain, as a rolling restart) or KILL (crash)")
	fs.IntVar(&o.workers, "workers", 4, "uvicorn workers of the MLflow child")
	fs.DurationVar(&o.sessionTTL, "session-ttl", 20*time.Second, "lifetime of browser session tokens, so the gateway refreshes them during the run")
	fs.DurationVar(&o.timeout, "timeout", 8*time.Minute, "hard limit for the whole run")
	fs.StringVar(&o.logLevel, "log-level", "info", "the gateways' MLFLOW_DESCOPE_LOG_LEVEL (debug names every refusal's cause)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.short {
		o.dur, o.clients, o.workers = 24*time.Second, 40, 2
	}
	if o.postgres == "" {
		return fmt.Errorf("soak: -postgres (or AUDIT_TEST_POSTGRES_DSN) is required")
	}
	if o.clients < 10 {
		return fmt.Errorf("soak: at least 10 clients")
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	remove := false
	if o.workdir == "" {
		d, err := os.MkdirTemp("", "mlflow-descope-soak-")
		if err != nil {
			return err
		}
		o.workdir, remove = d, !o.keep
	}
	if err := os.MkdirAll(o.workdir, 0o700); err != nil {
		return err
	}
	defer func() {
		if remove {
			os.RemoveAll(o.workdir)
		}
	}()
	ps, err := newProcs(o.workdir + "/pgids")
	if err != nil {
		return err
	}
	defer ps.stopAll()
	rep, err := soak(ctx, o, ps, stdout)
	if err != nil {
		remove = false
		fmt.Fprintln(stderr, "logs in", o.workdir)
		return err
	}
	rep.print(stdout)
	if o.out != "" {
		if err := rep.writeMarkdown(o.out); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", o.out)
	}
	if bad := rep.violations(); len(bad) > 0 {
		remove = false // keep the evidence
		fmt.Fprintln(stderr, "logs in", o.workdir)
		return fmt.Errorf("soak: FAILED: %v", bad)
	}
	return nil
}
