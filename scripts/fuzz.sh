#!/usr/bin/env bash
# Runs every fuzz target for a bounded budget each: scripts/fuzz.sh [budget]
#
# The budget is a count of executions ("50000x", the default) or a duration
# ("60s"). `make test` uses a count: with a duration, Go 1.26's fuzzing
# coordinator can report "context deadline exceeded" as a failure when the
# deadline lands while a worker is busy (Go issue 75804, fixed in Go 1.27),
# which failed CI once with no crashing input. A count has no deadline to
# race. With a count, -timeout bounds each target, so an input that makes a
# target hang fails with the goroutine dump of where it hangs.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-50000x}
timeout=5m
case $budget in *x) ;; *) timeout=0 ;; esac # a duration bounds itself
for pkg in $(go list ./internal/...); do
  for f in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz $pkg $f ($budget)"
    go test -run '^$' -fuzz "^${f}\$" -fuzztime "$budget" -timeout "$timeout" "$pkg"
  done
done
