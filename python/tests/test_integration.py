"""Runs the real `mlflow server --app-name descope-auth` (skipped if mlflow is absent)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from mlflow_descope_auth.assertion import HEADER, sign

SECRET = b"integration-secret-0123456789abcdef"
ADMIN = "mlflow-descope-auth-admin"


def _mlflow_bin() -> str | None:
    candidate = Path(sys.executable).parent / "mlflow"
    if candidate.exists():
        return str(candidate)
    return shutil.which("mlflow")


pytestmark = pytest.mark.skipif(
    _mlflow_bin() is None
    or not any(ep.name == "descope-auth" for ep in entry_points(group="mlflow.app")),
    reason="mlflow with the descope-auth entry point is not installed",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def _env(tmp: Path, secret: bytes, function: str = "mlflow_descope_auth.auth:authenticate") -> dict[str, str]:
    ini = tmp / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{tmp / 'auth.db'}\n"
        f"admin_username = {ADMIN}\n"
        # MLflow < 3.16.1 reads the admin password only from here (no env variable).
        "admin_password = bootstrap-password-123\n"
        f"authorization_function = {function}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "_MLFLOW_"))}
    env.update(
        MLFLOW_AUTH_CONFIG_PATH=str(ini),
        MLFLOW_FLASK_SERVER_SECRET_KEY="test-flask-secret-key",
        MLFLOW_AUTH_ADMIN_USERNAME=ADMIN,
        MLFLOW_AUTH_ADMIN_PASSWORD="bootstrap-password-123",
        MLFLOW_DESCOPE_ASSERTION_SECRET=secret.decode(),
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    return env


def _start(tmp: Path, env: dict[str, str]) -> Server:
    port = _free_port()
    log = tmp / "server.log"
    cmd = [
        str(_mlflow_bin()), "server", "--app-name", "descope-auth",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}",
        "--serve-artifacts", "--artifacts-destination", str(tmp / "artifacts"),
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Server(f"http://127.0.0.1:{port}", proc, log)


def _stop(server: Server) -> None:
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait()
    try:
        os.killpg(server.proc.pid, signal.SIGKILL)  # leftovers of the group
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("mlflow")
    srv = _start(tmp, _env(tmp, SECRET))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if srv.proc.poll() is not None:
                pytest.fail(f"mlflow exited {srv.proc.returncode}:\n{srv.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(srv.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("mlflow did not answer /health in 120s:\n" + srv.log.read_text()[-3000:])
        yield srv
    finally:
        _stop(srv)


def request(
    server: Server, method: str, path: str, user: str | None = None, body: object = None,
    token: str | None = None,
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method)
    if user is not None:
        now = int(time.time())
        token = sign(SECRET, user, now, now + 60)
    if token is not None:
        req.add_header(HEADER, token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("flask_route", "/api/2.0/mlflow/experiments/search?max_results=1"),
        ("users_current", "/api/2.0/mlflow/users/current"),
        ("fastapi_native_route", "/ajax-api/3.0/jobs/search"),
    ],
)
@pytest.mark.parametrize(
    "token",
    [None, "forged", "wrong-secret"],
)
def test_refused_without_valid_assertion(server: Server, name: str, path: str, token: str | None) -> None:
    now = int(time.time())
    value = {
        None: None,
        "forged": "v1.eyJzdWIiOiJhZG1pbiJ9.AAAA",
        "wrong-secret": sign(b"w" * 32, ADMIN, now, now + 60),
    }[token]
    status, headers, body = request(server, "GET", path, token=value)
    assert status == 401
    assert "WWW-Authenticate" not in headers and "www-authenticate" not in headers
    assert json.loads(body)["error_code"] == "UNAUTHENTICATED"


def test_admin_is_authenticated(server: Server) -> None:
    status, _, body = request(server, "GET", "/api/2.0/mlflow/users/current", user=ADMIN)
    assert status == 200, body
    doc = json.loads(body)
    assert doc["user"]["username"] == ADMIN and doc["user"]["is_admin"] is True
    assert doc["is_basic_auth"] is False
    status, _, body = request(server, "GET", "/api/2.0/mlflow/experiments/search?max_results=5", user=ADMIN)
    assert status == 200, body


def test_admin_creates_user_who_can_then_read(server: Server) -> None:
    status, _, body = request(
        server, "POST", "/api/2.0/mlflow/users/create", user=ADMIN,
        body={"username": "alice@example.com", "password": "unused-password-123"},
    )  # fmt: skip
    assert status == 200, body
    assert json.loads(body)["user"]["username"] == "alice@example.com"
    status, _, body = request(server, "GET", "/api/2.0/mlflow/users/current", user="alice@example.com")
    assert status == 200, body
    assert json.loads(body)["user"]["is_admin"] is False
    # non-admins cannot use the admin API
    status, _, _ = request(
        server, "POST", "/api/2.0/mlflow/users/create", user="alice@example.com",
        body={"username": "eve", "password": "unused-password-123"},
    )  # fmt: skip
    assert status == 403


def test_unknown_user_is_not_admitted(server: Server) -> None:
    status, _, _ = request(server, "GET", "/api/2.0/mlflow/users/current", user="nobody")
    assert status != 200


def test_basic_auth_is_ignored(server: Server) -> None:
    req = urllib.request.Request(server.url + "/api/2.0/mlflow/users/current")
    req.add_header("Authorization", "Basic bWxmbG93LWRlc2NvcGUtYXV0aC1hZG1pbjpib290c3RyYXAtcGFzc3dvcmQtMTIz")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 401


def _child_environ(pid: int) -> dict[str, str]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        raw = Path(f"/proc/{child}/environ").read_bytes()
        env = dict(kv.split("=", 1) for kv in raw.decode(errors="replace").split("\0") if "=" in kv)
        if "_MLFLOW_SGI_NAME" in env:
            return env
    raise AssertionError("no uvicorn child found")


def _mlflow_bootstraps_admin() -> bool:
    """Whether the installed MLflow has basic-auth's pre-worker admin bootstrap.

    Read from the source: importing mlflow.server here would build its app.
    """
    spec = importlib.util.find_spec("mlflow.server")
    assert spec is not None and spec.origin is not None
    return "def _bootstrap_basic_auth(" in Path(spec.origin).read_text()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_basic_auth_launch_behaviour_is_restored(server: Server) -> None:
    env = _child_environ(server.proc.pid)
    assert env["_MLFLOW_SGI_NAME"] == "uvicorn"
    # Only MLflow >= 3.16.1 bootstraps the admin before the workers (for basic-auth).
    assert env.get("_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED") == ("true" if _mlflow_bootstraps_admin() else None)
    assert len(env["_MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN"]) == 64
    assert len(env["_MLFLOW_ASSISTANT_DELEGATION_SIGNING_KEY"]) == 64
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"


@pytest.mark.parametrize(
    ("name", "secret", "function", "message"),
    [
        ("short_secret", b"too-short", "mlflow_descope_auth.auth:authenticate", "at least 32 bytes"),
        ("other_function", SECRET, "mlflow.server.auth:authenticate_request_basic_auth", "authorization_function"),
    ],
)
def test_refuses_to_start(tmp_path: Path, name: str, secret: bytes, function: str, message: str) -> None:
    srv = _start(tmp_path, _env(tmp_path, secret, function))
    try:
        assert srv.proc.wait(timeout=120) != 0
    finally:
        _stop(srv)
    assert message in srv.log.read_text()
