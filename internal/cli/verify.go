package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/app"
)

// verify recomputes the audit log's hash chain (Store.Verify) and fails on
// a broken chain.
func verify(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, environ, stderr)
	if err != nil {
		return err
	}
	store, err := app.OpenAuditStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer store.Close()
	res, err := store.Verify(ctx)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if res.OK() {
		fmt.Fprintf(stdout, "audit log OK: %d records checked (after anchor %d); head %d %s\n",
			res.Checked, res.AnchorID, res.HeadID, res.HeadHash)
		return nil
	}
	fmt.Fprintf(stdout, "audit log BROKEN at record %d: %s\n%d records checked before it (after anchor %d); head %d %s\n",
		res.FirstBadID, res.Problem, res.Checked, res.AnchorID, res.HeadID, res.HeadHash)
	return ErrReported
}
