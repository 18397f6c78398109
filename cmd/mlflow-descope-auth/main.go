// Command mlflow-descope-auth is the gateway that signs people and machines in
// with Descope and proxies them to MLflow.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if err != errReported {
			fmt.Fprintln(os.Stderr, "mlflow-descope-auth:", err)
		}
		os.Exit(1)
	}
}
