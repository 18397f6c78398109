"""A grant or revocation applies to the very next request in every MLflow worker.

Two MLflow servers (2 uvicorn workers each) share one tracking and one auth database; gateway
A fronts the first, gateway B (another replica) the second. Bob's caches are warmed in all four
workers, then his access to one experiment is granted and revoked through gateway A, through
gateway B and by SQL straight into the auth database; after each change, the first request in
each of the four workers (reached over a connection pinned to it, found through /proc) must
already see it. MLflow's stores on SQLite, then on PostgreSQL; the two gateways share one
gateway database on PostgreSQL, as replicas must, so it needs AUDIT_TEST_POSTGRES_DSN.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

import servers
from mlflow_descope_auth.assertion import HEADER, sign

SECRET = "coherence-test-assertion-secret-0123456789"
PROJECT = "P2CoherenceTest000000000001"
KEY = "sim-management-key"

def _mlflow_before_3_17() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = (int(x) for x in version("mlflow").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return True
    return (major, minor) < (3, 17)


pytestmark = [
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc"),
    # The grant API used here (/api/3.0/mlflow/users/permissions/*) is MLflow 3.17's.
    pytest.mark.skipif(_mlflow_before_3_17(), reason="uses MLflow 3.17's permission API"),
]


def _unavailable(reason: str) -> None:
    if os.environ.get("MDA_REQUIRE_ALL"):
        pytest.fail(f"MDA_REQUIRE_ALL is set: {reason}", pytrace=False)
    pytest.skip(reason)


def _postgres_databases(*kinds: str) -> list[str]:
    """A new PostgreSQL database per kind, on the test cluster; postgresql:// URLs."""
    dsn = os.environ.get("AUDIT_TEST_POSTGRES_DSN", "")
    if not dsn:
        _unavailable("AUDIT_TEST_POSTGRES_DSN is not set")
    import psycopg

    base = dsn.split("?", 1)[0].rsplit("/", 1)[0].replace("postgres://", "postgresql://", 1)
    names = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for kind in kinds:
            name = f"plugin_{kind}_{uuid.uuid4().hex[:10]}"
            conn.execute(f"CREATE DATABASE {name}")
            names.append(name)
    return [f"{base}/{name}" for name in names]


@dataclass
class Deployment:
    gateways: list[str]
    workers: list[servers.Workers]
    auth_uri: str
    sim_url: str
    logs: Path


@pytest.fixture(params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    mlflow = servers.mlflow_bin()
    binaries = servers.go_binaries()
    if mlflow is None or binaries is None:
        _unavailable("needs mlflow and the gateway binaries (make build venv)")
    gateway_bin, sim_bin = binaries  # type: ignore[misc]
    if request.param == "sqlite":
        tracking_uri, auth_uri = f"sqlite:///{tmp_path / 'mlflow.db'}", f"sqlite:///{tmp_path / 'auth.db'}"
    else:
        tracking_uri, auth_uri = _postgres_databases("tracking", "auth")
    # Replicas share the gateway's database (docs/deployment.md): with one each,
    # the second would see the first's MLflow user for bob as someone else's
    # name and give him another (naming's rule for a name it cannot vouch for).
    (gateway_db,) = _postgres_databases("gateway")
    gateway_db = gateway_db.replace("postgresql://", "postgres://", 1) + "?sslmode=disable"
    logs = Path(os.environ.get("TEST_ARTIFACTS") or tmp_path) / "plugin-coherence" / request.param
    logs.mkdir(parents=True, exist_ok=True)
    (tmp_path / "auth.ini").write_text(
        "[mlflow]\ndefault_permission = NO_PERMISSIONS\n"
        f"database_uri = {auth_uri}\nadmin_username = {servers.ADMIN}\n"
        "authorization_function = mlflow_descope_auth.auth:authenticate\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "_MLFLOW_", "DESCOPE_"))}
    procs: list[servers.Proc] = []
    try:
        sim, sim_url = servers.start_sim(sim_bin, logs, PROJECT, KEY)
        procs.append(sim)
        mlflow_env = dict(base, MLFLOW_AUTH_CONFIG_PATH=str(tmp_path / "auth.ini"),
                          MLFLOW_FLASK_SERVER_SECRET_KEY="coherence-flask-secret",
                          MLFLOW_AUTH_ADMIN_USERNAME=servers.ADMIN,
                          MLFLOW_AUTH_ADMIN_PASSWORD="coherence-admin-password",
                          MLFLOW_DESCOPE_ASSERTION_SECRET=SECRET, MLFLOW_DISABLE_TELEMETRY="true")  # fmt: skip
        workers: list[servers.Workers] = []
        gateways: list[tuple[servers.Proc, str]] = []

        def start_mlflow(i: int) -> servers.Workers:
            port = servers.free_port()
            proc = servers.start(f"mlflow-{i}", [
                mlflow, "server", "--app-name", "descope-auth", "--host", "127.0.0.1",
                "--port", str(port), "--workers", "2", "--backend-store-uri", tracking_uri,
                "--serve-artifacts", "--artifacts-destination", str(tmp_path / "artifacts"),
            ], mlflow_env, logs)  # fmt: skip
            procs.append(proc)
            return servers.Workers(proc, port, 2)

        def start_gateway(i: int, w: servers.Workers) -> None:
            port = servers.free_port()
            gw = servers.start(f"gateway-{i}", [
                gateway_bin, "serve", "--port", str(port), "--data-dir", str(tmp_path / f"gw{i}"),
                "--mlflow-url", f"http://127.0.0.1:{w.port}",
            ], dict(base, DESCOPE_PROJECT_ID=PROJECT, DESCOPE_BASE_URI=sim_url,
                    DESCOPE_MANAGEMENT_KEY=KEY, MLFLOW_DESCOPE_ASSERTION_SECRET=SECRET,
                    MLFLOW_DESCOPE_METRICS_ADDR="", MLFLOW_DESCOPE_LOG_FORMAT="text",
                    DESCOPE_SYNC_INTERVAL="0", MLFLOW_DESCOPE_AUDIT_DB=gateway_db), logs)  # fmt: skip
            procs.append(gw)
            gateways.append((gw, f"http://127.0.0.1:{port}"))

        # The first MLflow creates the schemas alone; then the rest start side by side.
        workers.append(start_mlflow(0))
        servers.wait_http(workers[0].server, f"http://127.0.0.1:{workers[0].port}/health")
        workers.append(start_mlflow(1))
        start_gateway(0, workers[0])
        servers.wait_http(workers[1].server, f"http://127.0.0.1:{workers[1].port}/health")
        start_gateway(1, workers[1])
        for gw, url in gateways:
            servers.wait_http(gw, url + "/ready", timeout=120)
        for w in workers:
            w.pin()
        yield Deployment([url for _, url in gateways], workers, auth_uri, sim_url, logs)
    finally:
        for proc in reversed(procs):
            proc.stop()


def _session(sim_url: str, roles: list[str]) -> tuple[str, str]:
    status, user = servers.http_json("POST", sim_url + "/sim/users", {
        "email": f"{uuid.uuid4().hex[:8]}@example.com", "roles": roles, "status": "enabled"})  # fmt: skip
    assert status < 300, user
    user_id = user["user"].get("id") or user["user"]["userId"]
    status, tokens = servers.http_json("POST", sim_url + "/sim/tokens", {"userId": user_id})
    assert status < 300, tokens
    return user_id, tokens["sessionJwt"]


def _via(gateway: str, jwt: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return servers.http_json(method, gateway + path, body, {"Authorization": f"Bearer {jwt}"})


def test_every_change_applies_to_the_next_request_in_every_worker(deployment: Deployment) -> None:
    d = deployment
    _, admin = _session(d.sim_url, ["admin"])
    _, bob_jwt = _session(d.sim_url, [])
    status, made = _via(d.gateways[0], admin, "POST", "/api/2.0/mlflow/experiments/create",
                        {"name": f"guarded-{uuid.uuid4().hex[:6]}"})  # fmt: skip
    assert status == 200, made
    exp = made["experiment_id"]
    read = f"/api/2.0/mlflow/experiments/get?experiment_id={exp}"
    # Bob's first request through each gateway provisions him in MLflow.
    for gw in d.gateways:
        assert _via(gw, bob_jwt, "GET", read)[0] == 403
    # His MLflow username is the gateway's (his login ID), not his user ID.
    status, me = _via(d.gateways[0], bob_jwt, "GET", "/auth/whoami")
    assert status == 200, me
    bob = me["username"]

    def worker_statuses() -> list[int]:
        now = int(time.time())
        headers = {HEADER: sign(SECRET.encode(), bob, now, now + 60)}
        return [w.request(pid, "GET", read, headers) for w in d.workers for pid in sorted(w.conns)]

    def expect(label: str, want: int) -> None:
        got = worker_statuses()  # the first request in each worker after the change
        assert got == [want] * 4, f"{label}: workers answered {got} (logs in {d.logs})"
        assert worker_statuses() == [want] * 4, f"{label}: second request"
        for gw in d.gateways:
            assert _via(gw, bob_jwt, "GET", read)[0] == want, f"{label}: through {gw}"

    expect("before any grant (caches warm)", 403)
    grant = {"username": bob, "resource_type": "experiment", "resource_id": exp, "permission": "READ"}
    revoke = {"username": bob, "resource_type": "experiment", "resource_id": exp}
    for i, gw in enumerate(d.gateways):
        status, out = _via(gw, admin, "POST", "/api/3.0/mlflow/users/permissions/grant", grant)
        assert status == 200, out
        expect(f"granted through gateway {i}", 200)
        status, out = _via(gw, admin, "POST", "/api/3.0/mlflow/users/permissions/revoke", revoke)
        assert status == 200, out
        expect(f"revoked through gateway {i}", 403)

    engine = sqlalchemy.create_engine(d.auth_uri, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.begin() as conn:
            role = conn.execute(sqlalchemy.text(
                "SELECT r.id FROM roles r JOIN user_role_assignments a ON a.role_id = r.id "
                "JOIN users u ON u.id = a.user_id WHERE u.username = :u"), {"u": bob}).scalar_one()  # fmt: skip
            conn.execute(sqlalchemy.text(
                "INSERT INTO role_permissions (role_id, resource_type, resource_pattern, permission) "
                "VALUES (:r, 'experiment', :e, 'READ')"), {"r": role, "e": exp})  # fmt: skip
        expect("granted by SQL in the auth database", 200)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("DELETE FROM role_permissions WHERE role_id = :r"), {"r": role})
        expect("revoked by SQL in the auth database", 403)
    finally:
        engine.dispose()
