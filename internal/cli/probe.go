package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	probecheck "github.com/mlflow-descope-auth/mlflow-descope-auth/internal/probe"
)

// probeCmd is `probe [--timeout D] [URL]`: the health check of the FROM
// scratch image, which has no shell or curl (deploy/compose.yaml).
func probe(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", probecheck.DefaultTimeout, "how long to wait for the answer")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mlflow-descope-auth probe [--timeout 5s] [URL]\n\nGET URL (default http://127.0.0.1:$MLFLOW_DESCOPE_PORT/ready); exit 0 on a 2xx answer.")
	}
	if wantsHelp(args) {
		fs.SetOutput(stdout)
		fs.Usage = func() {
			fmt.Fprintln(stdout, "usage: mlflow-descope-auth probe [--timeout 5s] [URL]\n\nGET URL (default http://127.0.0.1:$MLFLOW_DESCOPE_PORT/ready); exit 0 on a 2xx answer.\n\nflags:")
			fs.PrintDefaults()
		}
		fs.Usage()
		return nil
	}
	if err := fs.Parse(args); err != nil {
		return ErrReported
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return ErrReported
	}
	target := fs.Arg(0)
	if target == "" {
		var err error
		if target, err = probecheck.DefaultURL(func(k string) string { return envLookup(environ, k) }); err != nil {
			return err
		}
	}
	return probecheck.Check(ctx, target, *timeout, stdout)
}

// envLookup is the last value of key in environ (as os.Getenv would see it).
func envLookup(environ []string, key string) string {
	v := ""
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
