// Package cli is the mlflow-descope-auth command line: one file per command
// (serve, check-config, explain, verify, version). cmd/mlflow-descope-auth
// only calls Run.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/app"
	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/config"
)

// version is set at build time with
// -ldflags "-X github.com/mlflow-descope-auth/mlflow-descope-auth/internal/cli.version=…".
var version = "dev"

// ErrReported means the problem was already printed for the user; the
// process only has to exit non-zero.
var ErrReported = errors.New("reported")

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

Every command answers --help.

Configuration comes from environment variables (see .env.example and
docs/configuration.md), an optional --config file of KEY=VALUE lines, and flags:
`

// command is one subcommand: its usage line and what it does. A command
// with flags of its own (not the configuration's) answers --help itself.
type command struct {
	usage    string
	run      func(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error
	ownFlags bool
}

var commands = map[string]command{
	"serve":        {"serve [flags]", serve, false},
	"check-config": {"check-config [flags]", checkConfig, false},
	"explain":      {"explain <login id or user id> [flags]", explain, false},
	"verify":       {"verify [flags]", verify, false},
	"probe":        {"probe [--timeout 5s] [URL]", probe, true},
	"version":      {"version", printVersion, false},
}

// Run is the whole program; main only wires the process to it, so tests
// can call it with their own arguments, environment and writers.
func Run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage+config.FlagUsage())
		return ErrReported
	}
	name, rest := args[0], args[1:]
	switch name {
	case "--version":
		name = "version"
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage+config.FlagUsage())
		return nil
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "unknown command %q\n\n%s%s", name, usage, config.FlagUsage())
		return ErrReported
	}
	if wantsHelp(rest) && !cmd.ownFlags {
		fmt.Fprintf(stdout, "usage: mlflow-descope-auth %s\n\nflags:\n%s", cmd.usage, config.FlagUsage())
		return nil
	}
	return cmd.run(ctx, rest, environ, stdout, stderr)
}

// wantsHelp reports whether a command's arguments ask for its usage.
func wantsHelp(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "--help" || a == "-help" })
}

func printVersion(_ context.Context, _, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintln(stdout, "mlflow-descope-auth", version)
	return nil
}

func load(args, environ []string) (*config.Config, error) {
	return config.Load(config.Sources{Args: args, Environ: environ, ReadFile: os.ReadFile})
}

// loadConfig loads and validates (the role mapping file too), printing one
// line per problem.
func loadConfig(args, environ []string, stderr io.Writer) (*config.Config, error) {
	cfg, err := load(args, environ)
	if cfg != nil && cfg.RoleMappingFile != "" {
		if _, merr := app.LoadMapping(cfg); merr != nil {
			err = errors.Join(err, merr)
		}
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if err != nil {
		printProblems(stderr, err)
		return nil, ErrReported
	}
	return cfg, nil
}

func printProblems(w io.Writer, err error) {
	fmt.Fprintln(w, "configuration problems:")
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, "  -", line)
	}
}
