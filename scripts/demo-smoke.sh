#!/usr/bin/env bash
# Checks that `make demo` (scripts/demo.sh) works as the README says: it comes
# up, serves the sign-in page, the MLflow client works with the printed demo
# access key, and Ctrl-C (SIGINT) stops everything it started. Run by
# scripts/test.sh after `make build venv`.
set -euo pipefail
cd "$(dirname "$0")/.."

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
sim_port=$(free_port)
metrics_port=$(free_port)
work=$(mktemp -d /tmp/mda-demo.XXXXXX)
out="$work/demo.out"
# The demo runs in its own process group so that one signal reaches all of it,
# as Ctrl-C in a terminal does.
PORT=$port SIM_PORT=$sim_port DEMO_DIR="$work/demo" MLFLOW_DESCOPE_METRICS_ADDR=127.0.0.1:$metrics_port \
  setsid scripts/demo.sh >"$out" 2>&1 &
demo_pid=$!
fail() {
  echo "demo smoke test: $*" >&2
  echo "--- demo output" >&2; cat "$out" >&2
  echo "--- gateway log (tail)" >&2; tail -30 "$work/demo/gateway.log" >&2 2>/dev/null || true
  kill -TERM -- -"$demo_pid" 2>/dev/null || true
  exit 1
}
trap 'kill -KILL -- -"$demo_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

for _ in $(seq 240); do
  grep -q "is running" "$out" 2>/dev/null && break
  kill -0 "$demo_pid" 2>/dev/null || fail "demo.sh exited before it was ready"
  sleep 0.5
done
grep -q "is running" "$out" || fail "not running after 2 minutes"
base="http://127.0.0.1:$port"

# A browser without a session is sent to the sign-in page with the flow.
curl -fsS -o "$work/login.html" "$base/auth/login" || fail "GET /auth/login failed"
grep -q "descope-wc" "$work/login.html" || fail "the sign-in page has no <descope-wc>"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: text/html' "$base/")
[ "$code" = 302 ] || [ "$code" = 303 ] || fail "GET / without a session: $code, want a redirect to sign-in"

# The command the demo prints, with the demo access key.
key=$(sed -n 's/.*MLFLOW_TRACKING_TOKEN=\([^ ]*\).*/\1/p' "$out" | head -n1)
[ -n "$key" ] || fail "the demo printed no access key"
MLFLOW_TRACKING_URI=$base MLFLOW_TRACKING_TOKEN=$key .venv/bin/python - <<'PY' || fail "the MLflow client with the demo key failed"
import mlflow
exp = mlflow.search_experiments()
assert any(e.name == "Default" for e in exp), exp
print("demo smoke: the MLflow client sees", [e.name for e in exp])
PY
# Without a key the API refuses.
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/2.0/mlflow/experiments/search")
[ "$code" = 401 ] || fail "API without credentials: $code, want 401"

# To a file first: grep -q would close a pipe early and fail curl (pipefail).
curl -fsS -o "$work/metrics.txt" "http://127.0.0.1:$metrics_port/metrics" || fail "GET /metrics failed"
grep -q '^mlflow_descope_' "$work/metrics.txt" || fail "no gateway metrics on the metrics listener"

# Ctrl-C stops the gateway, MLflow and the simulator.
kill -INT -- -"$demo_pid"
for _ in $(seq 60); do
  kill -0 "$demo_pid" 2>/dev/null || break
  sleep 0.5
done
kill -0 "$demo_pid" 2>/dev/null && fail "demo.sh still running 30 s after Ctrl-C"
# MLflow runs in its own process group; its command line names the work dir.
sleep 1
if pgrep -g "$demo_pid" >/dev/null 2>&1 || pgrep -f "$work" >/dev/null 2>&1; then
  pgrep -a -g "$demo_pid" >&2 || true
  pgrep -a -f "$work" >&2 || true
  fail "processes of the demo left behind after Ctrl-C"
fi
echo "demo smoke: ok (up, sign-in page, MLflow client with the demo key, 401 without, clean stop)"
