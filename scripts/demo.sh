#!/usr/bin/env bash
# make demo: the gateway and a real MLflow against the local Descope simulator,
# fully offline. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

host=127.0.0.1
port=${PORT:-5000}
sim_port=${SIM_PORT:-5001}
dir=${DEMO_DIR:-.mlflow-descope-auth/demo}
project=P2DemoProject0000000000001
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

bin/descope-sim --addr "$host:$sim_port" --project-id "$project" \
  --seed-file scripts/demo/seed.json >"$dir/descope-sim.out" 2>"$dir/descope-sim.log" &
sim_pid=$!
gw_pid=""
cleanup() {
  [ -n "$gw_pid" ] && kill -TERM "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null || true
  kill -TERM "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for _ in $(seq 50); do
  sim_url=$(head -n1 "$dir/descope-sim.out" 2>/dev/null || true)
  [ -n "$sim_url" ] && break
  sleep 0.1
done
if [ -z "${sim_url:-}" ]; then
  echo "descope-sim did not start:" >&2; cat "$dir/descope-sim.log" >&2; exit 1
fi

export DESCOPE_PROJECT_ID=$project
export DESCOPE_BASE_URI=$sim_url
export DESCOPE_MANAGEMENT_KEY=sim-management-key
export DESCOPE_WEB_COMPONENT_URL=$sim_url/sim/web-component.js
export MLFLOW_BACKEND_STORE_URI=sqlite:///$dir/mlflow.db
export MLFLOW_ARTIFACT_ROOT=$dir/mlartifacts
export MLFLOW_DESCOPE_DATA_DIR=$dir/data
export MLFLOW_DESCOPE_LOG_FORMAT=text
export MLFLOW_DESCOPE_METRICS_ADDR=${MLFLOW_DESCOPE_METRICS_ADDR:-127.0.0.1:9464}

bin/mlflow-descope-auth serve --host "$host" --port "$port" 2>"$dir/gateway.log" &
gw_pid=$!

echo "starting MLflow behind the gateway (logs: $dir/gateway.log) ..."
for _ in $(seq 180); do
  if curl -fsS "http://$host:$port/ready" >/dev/null 2>&1; then ready=1; break; fi
  if ! kill -0 "$gw_pid" 2>/dev/null; then echo "the gateway stopped:" >&2; tail -20 "$dir/gateway.log" >&2; exit 1; fi
  sleep 1
done
[ -n "${ready:-}" ] || { echo "not ready after 3 minutes:" >&2; tail -20 "$dir/gateway.log" >&2; exit 1; }

cat <<MSG

  MLflow with Descope sign-in is running:  http://$host:$port

  Sign in: the simulated Descope flow asks for a login ID.
    admin@example.com   an MLflow admin (Descope role "admin")
    alice@example.com   a regular user (default permission READ)
    anything else       a new user, signed up on the spot

  From code, with alice's demo access key:
    MLFLOW_TRACKING_URI=http://$host:$port \\
    MLFLOW_TRACKING_TOKEN=demo-access-key-for-alice \\
    .venv/bin/python -c 'import mlflow; print(mlflow.search_experiments())'

  Metrics: http://$MLFLOW_DESCOPE_METRICS_ADDR/metrics   Admin page: http://$host:$port/auth/admin/
  Press Ctrl-C to stop.

MSG
wait "$gw_pid"
