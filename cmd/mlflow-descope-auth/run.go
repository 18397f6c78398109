package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// errReported means the problem was already printed for the user.
var errReported = errors.New("reported")

const usage = `usage: mlflow-descope-auth <command> [flags]

commands:
  serve          run the gateway (and, unless --mlflow-url is given, MLflow)
  check-config   print the effective configuration (secrets masked) and exit
                 non-zero with one line per problem
  verify         check the audit log's hash chain; exit non-zero if it is broken
  explain ID     show the MLflow user, admin flag, roles and workspaces a Descope
                 user (login ID or user ID) gets, and from which rule
  probe [URL]    health check for images without a shell: GET URL (default
                 http://127.0.0.1:$MLFLOW_DESCOPE_PORT/ready), exit 0 on 2xx
  version        print the version

Configuration comes from environment variables (see .env.example and
docs/configuration.md), an optional --config file of KEY=VALUE lines, and flags:
`

// run is the whole program; main only wires the process to it, so tests can
// call it with their own arguments, environment and writers.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage+config.FlagUsage())
		return errReported
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		cfg, err := loadConfig(rest, environ, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, environ, stdout, stderr)
	case "check-config":
		return checkConfig(rest, environ, stdout, stderr)
	case "explain":
		return explainCmd(ctx, rest, environ, stdout, stderr)
	case "verify":
		return verify(ctx, rest, environ, stdout, stderr)
	case "probe":
		return probeCmd(ctx, rest, environ, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "mlflow-descope-auth", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage+config.FlagUsage())
		return nil
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s%s", cmd, usage, config.FlagUsage())
		return errReported
	}
}

func load(args, environ []string) (*config.Config, error) {
	return config.Load(config.Sources{Args: args, Environ: environ, ReadFile: os.ReadFile})
}

// loadConfig loads and validates (the role mapping file too), printing one
// line per problem.
func loadConfig(args, environ []string, stderr io.Writer) (*config.Config, error) {
	cfg, err := load(args, environ)
	if cfg != nil && cfg.RoleMappingFile != "" {
		if _, merr := loadMapping(cfg); merr != nil {
			err = errors.Join(err, merr)
		}
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if err != nil {
		printProblems(stderr, err)
		return nil, errReported
	}
	return cfg, nil
}

func printProblems(w io.Writer, err error) {
	fmt.Fprintln(w, "configuration problems:")
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, "  -", line)
	}
}

func checkConfig(args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := load(args, environ)
	if cfg != nil && cfg.RoleMappingFile != "" {
		if _, merr := loadMapping(cfg); merr != nil {
			err = errors.Join(err, merr)
		}
	}
	if cfg != nil {
		if derr := cfg.Dump(stdout); derr != nil {
			return derr
		}
		for _, w := range cfg.Warnings {
			fmt.Fprintln(stderr, "warning:", w)
		}
	}
	if err != nil {
		printProblems(stderr, err)
		return errReported
	}
	fmt.Fprintln(stderr, "configuration OK")
	return nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
