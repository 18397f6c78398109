"""How the gateway exchanges access keys: identity, rejection, Descope being
unavailable, single flight. Counts come from the simulator (/sim/counts).

The gateway limits key exchanges per client address. Tests that send raw requests
use their own loopback source address (``stack.http(source)``), so they neither use
up nor depend on the budget of 127.0.0.1, which the MLflow client in this process
uses. The MLflow client retries a 429, so its tests only get slower if that budget
runs out.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

EXCHANGE = "/v1/auth/accesskey/exchange"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


def _get(stack, authorization: str, source: str):
    with stack.http(source) as http:
        return http.get(stack.url + SEARCH, headers={"Authorization": authorization}, timeout=30)


def test_identity_bound_and_standalone_keys(stack):
    src = "127.0.0.11"
    user = stack.new_user(prefix="bound")
    _, bound = stack.new_key(user)
    standalone_id, standalone = stack.new_key()

    name = stack.username(user)
    assert stack.whoami(f"Bearer {bound}", src)["username"] == name
    basic = base64.b64encode(f"whatever:{bound}".encode()).decode()
    assert stack.whoami(f"Basic {basic}", src)["username"] == name
    assert stack.whoami(f"Bearer {standalone}", src)["username"] == f"access-key-{standalone_id}"
    # A session of the same user is the same MLflow user as the user's key.
    assert stack.whoami(f"Bearer {stack.session_jwt(user)}", src)["username"] == name


@pytest.mark.parametrize("kind", ["unknown", "deactivated", "deleted"])
def test_rejected_key_is_401_and_not_retried(stack, mlflow_env, expect_http_error, record_figure, kind):
    from mlflow import MlflowClient

    if kind == "unknown":
        key = "K2" + secrets.token_urlsafe(30)
    else:
        key_id, key = stack.new_key(stack.new_user(prefix=kind))
        if kind == "deactivated":
            stack.sim("POST", f"/sim/access-keys/{key_id}/deactivate")
        else:
            stack.sim("DELETE", f"/sim/access-keys/{key_id}")

    client = MlflowClient(tracking_uri=stack.url)
    before = stack.count(EXCHANGE)
    mlflow_env.token(key)
    t0 = time.monotonic()
    expect_http_error(401, "UNAUTHENTICATED", client.search_experiments, within=5)
    first = time.monotonic() - t0
    # The same key again (as Bearer and as Basic password) is answered from
    # the gateway's memory of rejected keys.
    expect_http_error(401, "UNAUTHENTICATED", client.get_experiment, "0", within=5)
    mlflow_env.basic(key)
    expect_http_error(401, "UNAUTHENTICATED", client.search_experiments, within=5)
    exchanges = stack.count(EXCHANGE) - before
    record_figure("exchanges for 3 calls", exchanges)
    record_figure("first call failed after s", round(first, 3))
    assert exchanges <= 1, f"the rejected key was exchanged {exchanges} times"

    raw = _get(stack, f"Bearer {key}", "127.0.0.12")
    assert raw.status_code == 401
    assert raw.headers["Content-Type"].startswith("application/json")
    assert raw.json()["error_code"] == "UNAUTHENTICATED"
    assert "Retry-After" not in raw.headers
    assert stack.count(EXCHANGE) - before <= 1


def test_descope_unavailable_during_exchange_is_503_then_succeeds(stack, mlflow_env, record_figure):
    from mlflow import MlflowClient

    src = "127.0.0.13"
    user = stack.new_user(prefix="flaky")
    _, key = stack.new_key(user)
    try:
        # What the gateway answers while Descope is down.
        stack.fault(pathPrefix=EXCHANGE, status=503, retryAfter=1, times=1)
        before = stack.count(EXCHANGE)
        down = _get(stack, f"Bearer {key}", src)
        assert down.status_code == 503, down.text
        assert down.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert down.headers.get("Retry-After", "").isdigit(), down.headers
        assert 1 <= int(down.headers["Retry-After"]) <= 60
        # A 503 is not remembered as a rejection: the same key works now.
        up = _get(stack, f"Bearer {key}", src)
        assert up.status_code == 200, up.text
        assert stack.count(EXCHANGE) - before == 2

        # The MLflow client retries the 503 and succeeds: no false 401.
        _, key2 = stack.new_key(user)
        stack.fault(pathPrefix=EXCHANGE, status=503, retryAfter=1, times=1)
        before = stack.count(EXCHANGE)
        mlflow_env.token(key2)
        t0 = time.monotonic()
        exps = MlflowClient(tracking_uri=stack.url).search_experiments(max_results=1)
        took = time.monotonic() - t0
        assert len(exps) == 1
        exchanges = stack.count(EXCHANGE) - before
        record_figure("exchanges (1 failed + 1 ok)", exchanges)
        record_figure("client call with one 503 took s", round(took, 3))
        assert exchanges == 2, "the client's retry should have exchanged the key again"
        assert took >= 0.9, "the client should have waited for Retry-After"
    finally:
        stack.clear_faults()


def test_admin_key_manages_other_users_experiment(stack, mlflow_env, denied, uniq):
    """An owner by role: a key of a user with the admin role may change anyone's experiment."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.url)
    _, alice_key = stack.new_key(stack.new_user(prefix="alice"))
    admin = stack.new_user(roles=["admin"], prefix="admin")
    _, admin_key = stack.new_key(admin)
    _, reader_key = stack.new_key(stack.new_user(prefix="reader"))
    me = stack.whoami(f"Bearer {admin_key}", "127.0.0.14")
    assert (me["username"], me["is_admin"]) == (stack.username(admin), True)

    mlflow_env.token(alice_key)
    eid = client.create_experiment(uniq("alice"))
    run_id = client.create_run(eid).info.run_id
    mlflow_env.token(reader_key)
    denied(client.log_param, run_id, "by", "reader")
    mlflow_env.token(admin_key)
    client.log_param(run_id, "by", "admin")
    client.rename_experiment(eid, uniq("renamed-by-admin"))
    client.delete_experiment(eid)
    client.restore_experiment(eid)
    assert client.get_run(run_id).data.params == {"by": "admin"}


def test_bound_key_with_other_roles_gets_its_own_mlflow_user(stack):
    """MLflow keeps one admin flag and one set of roles per username, so a key
    bound to a user shares the user's MLflow username only when its roles give
    the same MLflow permissions; a key with other roles is its own MLflow user,
    and neither ever changes the other's permissions."""
    src = "127.0.0.15"
    user = stack.new_user(roles=["admin"], prefix="admin-with-ci-key")
    ci_id, ci_key = stack.new_key(user, roles=["ci"])  # the key carries its own, lesser role
    _, same_key = stack.new_key(user, roles=["admin"])  # the same role as its user
    session = f"Bearer {stack.session_jwt(user)}"
    seen = []
    for auth in (session, f"Bearer {ci_key}", session, f"Bearer {ci_key}", f"Bearer {same_key}"):
        me = stack.whoami(auth, src)
        seen.append((me["username"], me["is_admin"]))
    name = stack.username(user)
    assert seen == [
        (name, True),
        (f"access-key-{ci_id}", False),
        (name, True),
        (f"access-key-{ci_id}", False),
        (name, True),
    ], f"(username, is_admin) per request (session, ci key, session, ci key, same-role key): {seen}"


def test_credentials_never_reach_the_gateway_log(stack):
    src = "127.0.0.16"
    user = stack.new_user(prefix="secretive")
    _, key = stack.new_key(user)
    jwt = stack.session_jwt(user)
    bad = "K2" + secrets.token_urlsafe(30)
    basic = base64.b64encode(f"ci:{key}".encode()).decode()
    credentials = (f"Bearer {key}", f"Basic {basic}", f"Bearer {jwt}", f"Bearer {bad}")
    statuses = [_get(stack, auth, src).status_code for auth in credentials]
    assert statuses == [200, 200, 200, 401]
    time.sleep(0.2)
    log = stack.log_text()
    for name, secret in (("access key", key), ("basic credential", basic), ("bad key", bad),
                         ("session JWT", jwt), ("JWT signature", jwt.rsplit(".", 1)[1])):  # fmt: skip
        assert secret not in log, f"the {name} appears in the gateway log"


def test_parallel_first_requests_with_one_key_are_not_rate_limited(stack, record_figure):
    n, src = 30, "127.0.0.17"
    _, key = stack.new_key(stack.new_user(prefix="parallel-raw"))
    before = stack.count(EXCHANGE)
    barrier = threading.Barrier(n)
    # Descope's real latency (the simulator answers in a millisecond), so that
    # the requests arrive while the one exchange is in flight.
    stack.fault(pathPrefix=EXCHANGE, delayMs=400, times=1)

    def work(_: int) -> int:
        with stack.http(src) as http:
            barrier.wait(timeout=30)
            return http.get(stack.url + SEARCH, headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code

    try:
        with ThreadPoolExecutor(max_workers=n) as pool:
            statuses = Counter(pool.map(work, range(n)))
    finally:
        stack.clear_faults()
    exchanges = stack.count(EXCHANGE) - before
    record_figure(f"{n} parallel raw first requests", f"statuses {dict(statuses)}, exchanges {exchanges}")
    assert exchanges == 1
    assert statuses == Counter({200: n}), f"statuses of {n} parallel first requests with one key: {dict(statuses)}"


# Last in this module: with the limit above, these 20 first requests can use up
# 127.0.0.1's exchange budget (the MLflow client cannot pick a source address).
def test_parallel_clients_share_one_exchange(stack, mlflow_env, record_figure):
    from mlflow import MlflowClient

    n = 20
    user = stack.new_user(prefix="parallel")
    _, key = stack.new_key(user)
    mlflow_env.token(key)
    before = stack.counts()
    barrier = threading.Barrier(n)

    def work(_: int) -> int:
        client = MlflowClient(tracking_uri=stack.url)
        barrier.wait(timeout=30)
        return len(client.search_experiments(max_results=5))

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(work, range(n)))
    took = time.monotonic() - t0
    after = stack.counts()
    diff = {p: after.get(p, 0) - before.get(p, 0) for p in after if after.get(p, 0) != before.get(p, 0)}
    record_figure("descope calls for 20 parallel first requests", diff)
    record_figure("20 parallel first requests took s", round(took, 3))
    assert all(r >= 1 for r in results)  # at least the Default experiment
    assert diff.get(EXCHANGE, 0) == 1, f"Descope calls: {diff}"

    # And later calls reuse the cached token.
    MlflowClient(tracking_uri=stack.url).search_experiments(max_results=1)
    assert stack.count(EXCHANGE) == after.get(EXCHANGE, 0)
