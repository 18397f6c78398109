#!/usr/bin/env bash
# Benchmarks (make bench runs this after build and venv):
#   1. Go micro-benchmarks: token verification, assertion signing, the
#      gateway's per-request handler chain (-benchmem);
#   2. bench/: MLflow alone, MLflow basic-auth, MLflow with our plugin
#      (direct and through the gateway, cookie and access key) and the
#      gateway in front of a trivial upstream, all on loopback, same workload;
# and writes the results into docs/performance.md and docs/performance.png.
#
#   scripts/bench.sh [extra bench flags, e.g. -d 3s -keep]
#
# Everything runs on 127.0.0.1 and stops by itself: the harness has a hard
# time limit, and every process group it started is killed on exit here too.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
work=$(mktemp -d "${TMPDIR:-/tmp}/mlflow-descope-bench.XXXXXX")
cleanup() {
  if [[ -f "$work/run/pgids" ]]; then
    while read -r pgid; do
      kill -KILL -- "-$pgid" 2>/dev/null || true
    done <"$work/run/pgids"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== micro-benchmarks"
"$GO" test -run '^$' -benchmem -benchtime=1s \
  -bench '^(BenchmarkVerify|BenchmarkSign|BenchmarkServeHTTP)$' \
  ./internal/descope ./internal/assertion ./internal/gateway 2>&1 |
  grep -E '^(Benchmark|pkg:|cpu:)' | tee "$work/micro.txt"

echo "== end-to-end"
"$GO" build -o "$work/bench" ./bench
mkdir -p "$work/run"
timeout --kill-after=20s 540s "$work/bench" -workdir "$work/run" -micro "$work/micro.txt" \
  -out docs/performance.md -png docs/performance.png "$@"
echo "wrote docs/performance.md and docs/performance.png"
