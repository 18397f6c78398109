#!/usr/bin/env bash
# The MLflow version matrix: for each supported release in
# python/mlflow-versions.txt other than the pinned one (which the whole suite
# tests), install it into its own virtual environment and run the tests whose
# outcome depends on MLflow:
#   1. the route dump of that release equals its committed dump
#      (internal/classify/testdata/releases/), which releases_test.go proves
#      the classifier's table covers;
#   2. the plugin's pytest suite (python/tests, with a real mlflow server);
#   3. the permission matrix against the real MLflow (internal/provision);
#   4. a lean part of the MLflow-client end-to-end suite (tests/e2e): every
#      resource family through the gateway with an access key, and a session
#      JWT as tracking token.
# Called by scripts/test.sh after `make build venv`. MLFLOW_MATRIX="3.16.1"
# limits it to some releases. MLFLOW_MATRIX_JOBS=2 (set by .ci/run) runs two
# releases side by side, which halves the time on an otherwise idle machine;
# the default, 1, runs them in turn (on a machine busy with other work, MLflow
# start-ups that share the cores can outlast the tests' start-up deadlines).
# Each release's output goes to $TEST_ARTIFACTS/mlflow-VERSION/matrix.log and is
# printed when it is done.
#
# Each environment starts as a copy of .venv (same dependencies, already
# installed) in which pip swaps the MLflow packages: ~25 s instead of minutes
# of downloads. It is kept in .venv-mlflow/VERSION and rebuilt when .venv is.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

pinned=$(sed -n 's/^mlflow\[auth\]==//p' python/requirements.txt)
mapfile -t supported < <(grep -Ev '^[[:space:]]*(#|$)' python/mlflow-versions.txt)
if [ "${supported[-1]}" != "$pinned" ]; then
  echo "python/mlflow-versions.txt must end with the pinned version $pinned" >&2
  exit 1
fi
want=${MLFLOW_MATRIX:-${supported[*]}}

export DESCOPE_SIM_BIN="$root/bin/descope-sim"
export GATEWAY_BIN="$root/bin/mlflow-descope-auth"
export TEST_ARTIFACTS="${TEST_ARTIFACTS:-$root/test-artifacts}"

venv_for() { # version → prints the environment's directory, building it if needed
  local v=$1 dir=$root/.venv-mlflow/$1
  if [ -f "$dir/.installed" ] && [ "$dir/.installed" -nt "$root/.venv/.installed" ]; then
    echo "$dir"; return
  fi
  rm -rf "$dir"
  mkdir -p "$root/.venv-mlflow"
  cp -a "$root/.venv" "$dir"
  rm -f "$dir/.installed"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "mlflow[auth]==$v" >&2
  local got
  got=$("$dir/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow"))')
  [ "$got" = "$v" ] || { echo "installed MLflow $got, wanted $v" >&2; return 1; }
  touch "$dir/.installed"
  echo "$dir"
}

# one_release VERSION: every step against that release; prints what failed.
one_release() {
  local v=$1 start venv py failed=()
  start=$(date +%s)
  echo "-- MLflow $v"
  if ! venv=$(venv_for "$v"); then echo "FAILED $v: install"; return 1; fi
  py=$venv/bin/python
  echo "   environment ready in $(( $(date +%s) - start )) s"
  MLFLOW_PYTHON=$py go test -count=1 -run 'TestDumpMatchesInstalledMLflow' ./internal/classify || failed+=("route dump")
  "$py" -m pytest -q -p no:cacheprovider python/tests || failed+=("plugin")
  MLFLOW_BIN=$venv/bin/mlflow go test -count=1 -run 'TestPermissionMatrixRealMLflow' ./internal/provision || failed+=("permission matrix")
  TEST_ARTIFACTS="$TEST_ARTIFACTS/mlflow-$v" MLFLOW_BIN=$venv/bin/mlflow MLFLOW_PYTHON=$py \
    "$py" -m pytest -q -p no:cacheprovider tests/e2e/test_e2e_access_keys.py tests/e2e/test_e2e_session_token.py \
      -k 'bearer or session_jwt' || failed+=("e2e")
  echo "   MLflow $v done in $(( $(date +%s) - start )) s"
  if [ ${#failed[@]} -gt 0 ]; then echo "FAILED $v: ${failed[*]}"; return 1; fi
}

releases=()
for v in $want; do [ "$v" != "$pinned" ] && releases+=("$v"); done
jobs=${MLFLOW_MATRIX_JOBS:-1}
pids=() logs=() status=0
for v in "${releases[@]}"; do
  log=$TEST_ARTIFACTS/mlflow-$v/matrix.log
  mkdir -p "$(dirname "$log")"
  if [ "$jobs" -le 1 ]; then
    one_release "$v" 2>&1 | tee "$log" || status=1
    continue
  fi
  one_release "$v" >"$log" 2>&1 &
  pids+=($!) logs+=("$log")
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || status=1
  cat "${logs[$i]}"
done

if [ $status -ne 0 ]; then
  echo "MLflow matrix failed (see FAILED lines above)" >&2
  exit 1
fi
echo "MLflow matrix passed: ${releases[*]} (and $pinned, by the whole suite)"
