#!/usr/bin/env bash
# Soak test (make soak runs this after build and venv): 200 clients for 60 s
# through two gateway replicas to a real MLflow while Descope, MLflow, the
# audit database and one replica fail on a schedule; writes the results into
# docs/reliability.md. A short version (-short) runs in make test.
#
#   scripts/soak.sh [extra soak flags, e.g. -d 120s -clients 300 -keep]
#
# It starts a throwaway PostgreSQL (unless AUDIT_TEST_POSTGRES_DSN is set),
# and every process group the harness started is killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
work=$(mktemp -d "${TMPDIR:-/tmp}/mlflow-descope-soak.XXXXXX")
pg_dir=""
cleanup() {
  if [[ -f "$work/run/pgids" ]]; then
    while read -r pgid; do
      kill -KILL -- "-$pgid" 2>/dev/null || true
    done <"$work/run/pgids"
  fi
  if [[ -n "$pg_dir" ]]; then internal/audit/testdata/start-postgres.sh stop "$pg_dir" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

dsn=${AUDIT_TEST_POSTGRES_DSN:-}
if [[ -z "$dsn" ]]; then
  pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/mda-soak-pg.XXXXXX")
  pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  dsn=$(internal/audit/testdata/start-postgres.sh "$pg_port" "$pg_dir" 2>"$work/postgres-start.log") || {
    cat "$work/postgres-start.log" >&2
    exit 1
  }
fi

"$GO" build -o "$work/soak" ./soak
mkdir -p "$work/run"
timeout --kill-after=20s 600s "$work/soak" -postgres "$dsn" -workdir "$work/run" -out docs/reliability.md "$@"
