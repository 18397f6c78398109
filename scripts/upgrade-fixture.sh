#!/usr/bin/env bash
# Makes internal/app/testdata/upgrade-from-<commit>.tar.gz: the state a release
# that named MLflow users by their Descope user ID leaves behind, made by that
# release itself, for the upgrade test (internal/app/e2e_upgrade_test.go).
#
#   scripts/upgrade-fixture.sh [commit]     (default 4e07165, the last such release)
#
# It builds the gateway and descope-sim of <commit> (git archive; nothing of the
# working tree is used), runs them with a real MLflow (.venv) and signs in as
# the users of internal/app/testdata/upgrade-seed.json, who then:
#   - alice creates the experiment "upgrade-exp" (she owns it: MANAGE) and a run;
#   - alice grants bob EDIT on it (a direct permission, users/permissions/grant);
#   - dave, a Descope "reviewer", gets the MLflow role "reviewers" (READ on
#     every experiment) from the mapping file upgrade-mapping.json;
#   - bob's access key is used once.
# The archive holds the gateway's data dir (audit log, block list, MLflow's
# auth database), MLflow's tracking database and manifest.json (the IDs).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
commit=${1:-4e07165}
out=$repo/internal/app/testdata/upgrade-from-$commit.tar.gz
mlflow_bin=${MLFLOW_BIN:-$repo/.venv/bin/mlflow}
[ -x "$mlflow_bin" ] || { echo "mlflow not found: run make venv or set MLFLOW_BIN" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/src" "$tmp/bin" "$tmp/state"
git archive "$commit" | tar -x -C "$tmp/src"
(cd "$tmp/src" && CGO_ENABLED=0 go build -o "$tmp/bin/" ./cmd/mlflow-descope-auth ./cmd/descope-sim)

project=P2UpgradeTest000000000000001
"$tmp/bin/descope-sim" --addr 127.0.0.1:0 --project-id "$project" \
  --seed-file internal/app/testdata/upgrade-seed.json >"$tmp/sim.out" 2>"$tmp/sim.log" &
pids+=($!)
for _ in $(seq 50); do sim=$(head -n1 "$tmp/sim.out" 2>/dev/null || true); [ -n "$sim" ] && break; sleep 0.1; done
[ -n "${sim:-}" ] || { cat "$tmp/sim.log" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
gw=http://127.0.0.1:$port
cp internal/app/testdata/upgrade-mapping.json "$tmp/state/mapping.json"
(
  cd "$tmp/state"
  DESCOPE_PROJECT_ID=$project DESCOPE_BASE_URI=$sim DESCOPE_MANAGEMENT_KEY=sim-management-key \
  DESCOPE_DEFAULT_PERMISSION=NO_PERMISSIONS DESCOPE_ROLE_MAPPING_FILE=mapping.json \
  MLFLOW_BACKEND_STORE_URI=sqlite:///mlflow.db MLFLOW_ARTIFACT_ROOT=mlartifacts \
  MLFLOW_DESCOPE_METRICS_ADDR= MLFLOW_DESCOPE_LOG_FORMAT=text \
  exec "$tmp/bin/mlflow-descope-auth" serve --port "$port" --data-dir data --mlflow-bin "$mlflow_bin"
) 2>"$tmp/gateway.log" &
gwpid=$!
pids+=($gwpid)
for _ in $(seq 180); do
  curl -fsS "$gw/ready" >/dev/null 2>&1 && break
  kill -0 "$gwpid" 2>/dev/null || { tail -30 "$tmp/gateway.log" >&2; exit 1; }
  sleep 1
done
curl -fsS "$gw/ready" >/dev/null || { tail -30 "$tmp/gateway.log" >&2; exit 1; }

token() { curl -fsS -X POST "$sim/sim/tokens" -H 'Content-Type: application/json' -d "{\"userId\":\"$1\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["sessionJwt"])'; }
call() { # user method path [json]
  local tok; tok=$(token "$1")
  curl -fsS -X "$2" "$gw$3" -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' ${4:+-d "$4"}
}
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

call U2bob GET '/api/2.0/mlflow/experiments/search?max_results=1' >/dev/null   # bob exists in MLflow
call U2dave GET '/api/2.0/mlflow/experiments/search?max_results=1' >/dev/null  # dave gets his role
exp=$(call U2alice POST /api/2.0/mlflow/experiments/create '{"name":"upgrade-exp"}' | field 'd["experiment_id"]')
run=$(call U2alice POST /api/2.0/mlflow/runs/create "{\"experiment_id\":\"$exp\"}" | field 'd["run"]["info"]["run_id"]')
call U2alice POST /api/3.0/mlflow/users/permissions/grant \
  "{\"resource_type\":\"experiment\",\"resource_id\":\"$exp\",\"username\":\"U2bob\",\"permission\":\"EDIT\"}" >/dev/null
curl -fsS "$gw/api/2.0/mlflow/experiments/search?max_results=1" -H 'Authorization: Bearer bob-upgrade-key' >/dev/null
# What the old release shows: bob may log to alice's run, carol may not see it.
call U2bob POST /api/2.0/mlflow/runs/log-metric "{\"run_id\":\"$run\",\"key\":\"m\",\"value\":1,\"timestamp\":1}" >/dev/null
if call U2carol GET "/api/2.0/mlflow/experiments/get?experiment_id=$exp" >/dev/null 2>&1; then
  echo "carol can read alice's experiment: the fixture would prove nothing" >&2; exit 1
fi

kill -TERM "$gwpid"; wait "$gwpid" || true
cat >"$tmp/state/manifest.json" <<JSON
{"commit": "$(git rev-parse "$commit")", "project_id": "$project", "experiment_id": "$exp", "run_id": "$run"}
JSON
rm -f "$tmp/state/mapping.json"
mkdir -p "$(dirname "$out")"
tar -C "$tmp/state" --owner=0 --group=0 --numeric-owner -czf "$out" .
echo "wrote $out (experiment $exp, run $run)"
