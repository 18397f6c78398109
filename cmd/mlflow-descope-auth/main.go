// Command mlflow-descope-auth is the gateway that signs people and machines in
// with Descope and proxies them to MLflow. The commands live in internal/cli.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/mlflow-descope-auth/mlflow-descope-auth/internal/cli"
)

func main() {
	// Here, not in cli.Run: tests call it in-process, where a 48 MiB limit
	// would make the GC of a large test binary run without pause.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, cli.ErrReported) {
			fmt.Fprintln(os.Stderr, "mlflow-descope-auth:", err)
		}
		os.Exit(1)
	}
}

// defaultMemoryLimit is the gateway's soft memory limit unless GOMEMLIMIT
// says otherwise. Its live heap is a few MB; under a burst the heap otherwise
// grows with the allocation rate (GOGC=100), and resident memory followed it
// to 70 MB in the benchmark. The limit makes the GC run, and return memory,
// before that; it is soft, so a gateway that truly needs more gets it.
const defaultMemoryLimit = 48 << 20

// defaultGCPercent (unless GOGC is set): the live heap is small, so the
// default 100 ran the GC about 60 times a second at 10,000 requests/s.
// 200 halves that for ~10 % more throughput in front of a trivial upstream
// (bench/, (e)), and the memory limit above still bounds the heap.
const defaultGCPercent = 200
