// Package testenv finds the real tools that integration and end-to-end tests
// need (the mlflow executable, Chromium, PostgreSQL) and skips a test without
// them, except in CI (MDA_REQUIRE_ALL set), where a missing tool is a failure.
package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chromedp/chromedp"
)

// missing skips, or fails when every test must run.
func missing(tb testing.TB, what string) {
	tb.Helper()
	if os.Getenv("MDA_REQUIRE_ALL") != "" {
		tb.Fatalf("%s is required (MDA_REQUIRE_ALL is set)", what)
	}
	tb.Skipf("%s not available", what)
}

// RepoRoot is the module root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// MLflowBin returns an mlflow executable with the plugin installed: $MLFLOW_BIN
// or the project's .venv.
func MLflowBin(tb testing.TB) string {
	tb.Helper()
	for _, p := range []string{os.Getenv("MLFLOW_BIN"), filepath.Join(RepoRoot(), ".venv", "bin", "mlflow")} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	missing(tb, "mlflow (run make venv or set MLFLOW_BIN)")
	return ""
}

// ChromiumBin returns a Chromium executable: $CHROMIUM_BIN or chromium on PATH.
func ChromiumBin(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("CHROMIUM_BIN"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missing(tb, "chromium (apt-get install chromium)")
	return ""
}

// Browser starts a headless Chromium with a fresh profile and returns a
// context for chromedp; it is closed when the test ends.
func Browser(tb testing.TB) context.Context {
	tb.Helper()
	bin := ChromiumBin(tb)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1400, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// FreePort returns a free loopback port.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Artifacts returns the directory for screenshots and logs kept after a run
// ($TEST_ARTIFACTS, else a test temp dir).
func Artifacts(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("TEST_ARTIFACTS")
	if dir == "" {
		return tb.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}
