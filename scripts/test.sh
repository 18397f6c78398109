#!/usr/bin/env bash
# Runs every test: lint, Go (unit, integration, end to end with real MLflow and
# Chromium), the Python plugin and the Descope SDK contract, the deployment files
# (Helm chart, Compose file, the gateway image under podman), the MLflow version
# matrix, and bounded fuzzing. Called by `make test` after `make build venv`.
# MLFLOW_MATRIX=none skips the version matrix; MLFLOW_MATRIX="3.16.1" limits it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export MLFLOW_BIN="$root/.venv/bin/mlflow"
export MLFLOW_PYTHON="$root/.venv/bin/python"
export DESCOPE_SIM_BIN="$root/bin/descope-sim"
export GATEWAY_BIN="$root/bin/mlflow-descope-auth"
export TEST_ARTIFACTS="${TEST_ARTIFACTS:-$root/test-artifacts}"
mkdir -p "$TEST_ARTIFACTS"
if [ -z "${CHROMIUM_BIN:-}" ] && command -v chromium >/dev/null 2>&1; then
  export CHROMIUM_BIN=$(command -v chromium)
fi

# A throwaway PostgreSQL cluster for the store conformance suites, when the
# server is installed (CI installs it; MDA_REQUIRE_ALL makes its absence fatal).
pg_dir=""
cleanup() {
  if [ -n "$pg_dir" ]; then internal/audit/testdata/start-postgres.sh stop "$pg_dir" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  pg_dir=$(mktemp -d /tmp/mda-pg.XXXXXX)
  # A free port, not a fixed one: another cluster may hold any given port.
  pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  if ! AUDIT_TEST_POSTGRES_DSN=$(internal/audit/testdata/start-postgres.sh "$pg_port" "$pg_dir" 2>"$TEST_ARTIFACTS/postgres-start.log"); then
    echo "PostgreSQL did not start:" >&2
    cat "$TEST_ARTIFACTS/postgres-start.log" "$pg_dir/postgres.log" >&2 2>/dev/null || true
    exit 1
  fi
  export AUDIT_TEST_POSTGRES_DSN
  echo "postgres for tests: ${AUDIT_TEST_POSTGRES_DSN%%\?*}"
elif [ -n "${MDA_REQUIRE_ALL:-}" ]; then
  echo "PostgreSQL is not installed and MDA_REQUIRE_ALL is set" >&2
  exit 1
fi

echo "== lint"
make -s lint

echo "== go test"
go test -count=1 -timeout 20m ./...

echo "== soak (short: 40 clients, 24 s, every fault once)"
if [ -n "${AUDIT_TEST_POSTGRES_DSN:-}" ]; then
  soak_dir=$(mktemp -d "${TMPDIR:-/tmp}/mda-soak.XXXXXX")
  rm -rf "$TEST_ARTIFACTS/soak"
  go build -o "$soak_dir/soak" ./soak
  # Keeps its logs in $TEST_ARTIFACTS/soak when it fails.
  timeout --kill-after=20s 300s "$soak_dir/soak" -short -postgres "$AUDIT_TEST_POSTGRES_DSN" -workdir "$TEST_ARTIFACTS/soak" || {
    echo "soak failed; logs in $TEST_ARTIFACTS/soak" >&2
    exit 1
  }
  rm -rf "$soak_dir" "$TEST_ARTIFACTS/soak"
else
  echo "skipped: no PostgreSQL"
fi

echo "== make demo (smoke)"
scripts/demo-smoke.sh

echo "== pytest"
# helm for the chart tests (tests/deploy), built from its Go module once; without
# it (offline) those tests skip, or fail under MDA_REQUIRE_ALL.
if ! make -s helm; then
  echo "warning: could not build helm (make helm); the chart tests will not run" >&2
fi
"$MLFLOW_PYTHON" -m pytest -q python/tests tests

if [ "${MLFLOW_MATRIX:-}" != none ]; then
  echo "== MLflow version matrix"
  scripts/mlflow-matrix.sh
fi

echo "== fuzz (bounded)"
scripts/fuzz.sh "${FUZZTIME:-50000x}"
