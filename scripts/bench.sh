#!/usr/bin/env bash
# Benchmarks (make bench runs this after build and venv):
#   1. Go micro-benchmarks: token verification, assertion signing, the
#      gateway's per-request handler chain (-benchmem);
#   2. bench/: MLflow alone, MLflow basic-auth (default and with its
#      credential cache), MLflow with our plugin reached directly, the
#      gateway in launcher mode (cookie and access key), the gateway in front
#      of a trivial upstream, and with PEERS=1 mlflow-oidc-auth and
#      oauth2-proxy, all on loopback, same workloads; UI page loads in
#      headless Chromium; the gateway alone with a pinned load generator;
# and writes the results into docs/performance.md and docs/performance.png.
#
#   scripts/bench.sh [extra bench flags, e.g. -d 3s -keep]
#   PEERS=1 scripts/bench.sh      # also installs and runs the peers
#
# The peers are installed outside the product, into ignored directories:
# oauth2-proxy with `go install` into bin/tools, mlflow-oidc-auth into its
# own virtual environment bin/peers/oidc-venv (it needs Python >= 3.12:
# PEERS_PYTHON, else python3.12 on PATH or under ~/.pyenv).
#
# Everything runs on 127.0.0.1 and stops by itself: the harness has a hard
# time limit, and every process group it started is killed on exit here too.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
PEERS=${PEERS:-}
OAUTH2_PROXY_VERSION=v7.15.6
OIDC_AUTH_VERSION=11.0.2
MLFLOW_PIN=$(grep -E '^mlflow(\[[a-z,]+\])?==' python/requirements.txt | head -1 | sed -E 's/^mlflow(\[[a-z,]+\])?==//')

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

flags=()
limit=1500 # seconds: the run takes ~15 min without the peers on 2 cores
if [[ -n "$PEERS" && "$PEERS" != 0 ]]; then
  limit=2700
  echo "== peers"
  if [[ ! -x bin/tools/oauth2-proxy ]]; then
    GOBIN="$PWD/bin/tools" "$GO" install "github.com/oauth2-proxy/oauth2-proxy/v7@$OAUTH2_PROXY_VERSION"
  fi
  venv=bin/peers/oidc-venv
  if [[ ! -f "$venv/.installed-$OIDC_AUTH_VERSION-$MLFLOW_PIN" ]]; then
    py=${PEERS_PYTHON:-$(command -v python3.12 || ls -d "$HOME"/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -1 || true)}
    if [[ -z "$py" ]]; then
      echo "PEERS=1 needs Python >= 3.12 for mlflow-oidc-auth: set PEERS_PYTHON" >&2
      exit 1
    fi
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q "mlflow==$MLFLOW_PIN" "mlflow-oidc-auth==$OIDC_AUTH_VERSION"
    touch "$venv/.installed-$OIDC_AUTH_VERSION-$MLFLOW_PIN"
  fi
  flags+=(-peers)
fi

echo "== micro-benchmarks"
"$GO" test -run '^$' -benchmem -benchtime=1s \
  -bench '^(BenchmarkVerify|BenchmarkSign|BenchmarkServeHTTP)$' \
  ./internal/descope ./internal/assertion ./internal/gateway 2>&1 |
  grep -E '^(Benchmark|pkg:|cpu:)' | tee "$work/micro.txt"

echo "== end-to-end"
"$GO" build -o "$work/bench" ./bench
mkdir -p "$work/run"
timeout --kill-after=20s "${limit}s" "$work/bench" -workdir "$work/run" -micro "$work/micro.txt" \
  -timeout "$((limit - 30))s" -out docs/performance.md -png docs/performance.png "${flags[@]}" "$@"
echo "wrote docs/performance.md and docs/performance.png"
