package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/app"
)

// checkConfig prints the effective configuration (secrets masked) and
// fails with one line per problem.
func checkConfig(_ context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := load(args, environ)
	if cfg != nil && cfg.RoleMappingFile != "" {
		if _, merr := app.LoadMapping(cfg); merr != nil {
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
		return ErrReported
	}
	fmt.Fprintln(stderr, "configuration OK")
	return nil
}
