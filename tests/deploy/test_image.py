"""The gateway image, as operators run it: built with buildah (`make image`, FROM
scratch, nothing pulled) and started with podman in front of a host-run MLflow
(started by the MLflow image's own entry point, deploy/mlflow/entrypoint.py) and
descope-sim. It must answer /ready, its own `probe` health check, a browser-style
sign-in followed by API calls, and access-key calls, all through to the real MLflow.

Needs buildah, podman and runc (apt-get install buildah podman runc). podman runs
with `--runtime runc`, `--network host`, and a containers.conf with
`default_ulimits = []` (CONTAINERS_CONF), which these machines need.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deploytools import DEPLOY, REPO, unavailable

PROJECT_ID = "P2ImageTest0000000000000001"
SEED = REPO / "scripts" / "demo" / "seed.json"  # admin@example.com (admin), alice + her access key
ALICE_KEY = "demo-access-key-for-alice"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw, status, hdrs = resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as e:
        raw, status, hdrs = e.read(), e.code, e.headers
    try:
        doc: Any = json.loads(raw) if raw else None
    except ValueError:
        doc = raw.decode(errors="replace")
    return status, {"set-cookie": hdrs.get_all("Set-Cookie") or [], **dict(hdrs.items())}, doc


def wait_for(what: str, check, timeout: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    tails = "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
    pytest.fail(f"{what} not ready after {timeout:.0f} s\n{tails}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def psql() -> str | None:
    found = shutil.which("psql")
    if found:
        return found
    for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/psql")):
        return str(p)
    return None


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.podman_env = {**os.environ, "CONTAINERS_CONF": str(tmp / "containers.conf")}
        self.image = f"localhost/mda-image-test:{secrets.token_hex(4)}"
        self.name = f"mda-image-test-{secrets.token_hex(4)}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.cleanups: list[list[str]] = []
        self.database: str | None = None

    def podman(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(["podman", "--runtime", "runc", *args], env=self.podman_env,
                             capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            pytest.fail(f"podman {' '.join(args)}: {out.stderr}")
        return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for t in ("buildah", "podman", "runc"):
        if not shutil.which(t):
            unavailable(f"{t} is not installed (apt-get install buildah podman runc)")
    mlflow_python = os.environ.get("MLFLOW_PYTHON") or str(REPO / ".venv" / "bin" / "python")
    if not Path(mlflow_python).is_file():
        unavailable("no Python with MLflow (MLFLOW_PYTHON or .venv)")
    sim_bin = os.environ.get("DESCOPE_SIM_BIN") or str(REPO / "bin" / "descope-sim")
    if not Path(sim_bin).is_file():
        unavailable("bin/descope-sim is missing (make build)")

    tmp = tmp_path_factory.mktemp("image")
    s = Stack(tmp)
    (tmp / "containers.conf").write_text("[containers]\ndefault_ulimits = []\n")
    artifacts = Path(os.environ.get("TEST_ARTIFACTS") or REPO / "test-artifacts") / "image"
    artifacts.mkdir(parents=True, exist_ok=True)
    try:
        # 1. The image, exactly as `make image` builds it.
        t0 = time.monotonic()
        out = subprocess.run(["make", "-s", "image", f"IMAGE={s.image}"], cwd=REPO, env=s.podman_env,
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            pytest.fail(f"make image: {out.stdout}\n{out.stderr}")
        s.cleanups.append(["rmi", "-f", s.image])
        print(f"image built in {time.monotonic() - t0:.1f} s", file=sys.stderr)

        # 2. descope-sim on the host.
        sim_log = artifacts / "descope-sim.log"
        sim_port = free_port()
        sim = subprocess.Popen([sim_bin, "--addr", f"127.0.0.1:{sim_port}", "--project-id", PROJECT_ID,
                                "--seed-file", str(SEED)], stdout=subprocess.DEVNULL,
                               stderr=sim_log.open("wb"), start_new_session=True)
        s.procs.append(sim)
        s.sim_url = f"http://127.0.0.1:{sim_port}"
        wait_for("descope-sim", lambda: call("GET", s.sim_url + "/sim/healthz")[0] == 200, 30, [sim_log])

        # 3. MLflow on the host, through the MLflow image's entry point.
        secret = tmp / "assertion-secret"
        secret.write_text(secrets.token_hex(32) + "\n")
        secret.chmod(0o644)  # read by the container's user 65532
        ml_port = free_port()
        ml_log = artifacts / "mlflow.log"
        ml_env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "_MLFLOW_", "DESCOPE_"))}
        ml_env.update(
            MLFLOW_BACKEND_STORE_URI=f"sqlite:///{tmp / 'mlflow.db'}",
            MLFLOW_AUTH_DATABASE_URI=f"sqlite:///{tmp / 'auth.db'}",
            MLFLOW_FLASK_SERVER_SECRET_KEY=secrets.token_hex(16),
            MLFLOW_AUTH_ADMIN_PASSWORD=secrets.token_hex(16),
            MLFLOW_DESCOPE_ASSERTION_SECRET_FILE=str(secret),
            TMPDIR=str(tmp),
        )
        ml = subprocess.Popen(
            [mlflow_python, str(DEPLOY / "mlflow" / "entrypoint.py"), "--host", "127.0.0.1", "--port", str(ml_port),
             "--workers", "1", "--serve-artifacts", "--artifacts-destination", str(tmp / "artifacts"),
             "--allowed-hosts", f"127.0.0.1:{ml_port}"],
            env=ml_env, cwd=tmp, stdout=ml_log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        s.procs.append(ml)

        # 4. The gateway container, in external-MLflow mode.
        gw_env = {
            "DESCOPE_PROJECT_ID": PROJECT_ID,
            "DESCOPE_BASE_URI": s.sim_url,
            "DESCOPE_MANAGEMENT_KEY": "sim-management-key",
            "MLFLOW_DESCOPE_MLFLOW_URL": f"http://127.0.0.1:{ml_port}",
            "MLFLOW_DESCOPE_ASSERTION_SECRET_FILE": "/run/secrets/assertion",
            "MLFLOW_DESCOPE_HOST": "127.0.0.1",
            "MLFLOW_DESCOPE_PORT": str(s.port),
            "MLFLOW_DESCOPE_PUBLIC_URL": s.url,
            "MLFLOW_DESCOPE_METRICS_ADDR": f"127.0.0.1:{free_port()}",
        }
        run_args = ["run", "-d", "--name", s.name, "--network", "host", "--read-only", "--cap-drop", "ALL",
                    "--security-opt", "no-new-privileges", "-v", f"{secret}:/run/secrets/assertion:ro"]
        dsn, pg = os.environ.get("AUDIT_TEST_POSTGRES_DSN", ""), psql()
        if dsn and pg:
            # The deployment's shape: the gateway's database in PostgreSQL.
            db = "mda_image_" + secrets.token_hex(4)
            subprocess.run([pg, dsn, "-qc", f"CREATE DATABASE {db}"], check=True, capture_output=True, timeout=60)
            s.database = db
            base, _, query = dsn.partition("?")
            gw_env["MLFLOW_DESCOPE_AUDIT_DB"] = base.rsplit("/", 1)[0] + "/" + db + ("?" + query if query else "")
        else:
            # SQLite in the data dir, which a read-only root needs mounted writable
            # (a host directory: podman 4.3's --tmpfs ignores uid and mode here).
            data = tmp / "gateway-data"
            data.mkdir()
            try:
                os.chown(data, 65532, 65532)
            except PermissionError:
                data.chmod(0o777)
            run_args += ["-v", f"{data}:/var/lib/mlflow-descope-auth"]
        for k, v in gw_env.items():
            run_args += ["-e", f"{k}={v}"]
        s.podman(*run_args, s.image)
        s.cleanups.insert(0, ["rm", "-f", "-t", "10", s.name])
        gw_log = artifacts / "gateway.log"

        def gateway_ready() -> bool:
            logs = s.podman("logs", s.name, check=False)
            gw_log.write_text(logs.stdout + logs.stderr)  # for the failure message
            return call("GET", s.url + "/ready")[0] == 200

        try:
            wait_for("the gateway container (/ready)", gateway_ready, 240, [ml_log, gw_log])
        finally:
            logs = s.podman("logs", s.name, check=False)
            gw_log.write_text(logs.stdout + logs.stderr)
        yield s
    finally:
        for args in s.cleanups:
            s.podman(*args, check=False)
        for p in reversed(s.procs):
            stop(p)
        if s.database and dsn and pg:
            subprocess.run([pg, dsn, "-qc", f"DROP DATABASE IF EXISTS {s.database} WITH (FORCE)"],
                           capture_output=True, timeout=60)


def test_image_is_scratch_nonroot(stack: Stack) -> None:
    info = json.loads(stack.podman("image", "inspect", stack.image).stdout)[0]
    assert info["Config"]["User"] == "65532:65532"
    assert info["Config"]["Entrypoint"] == ["/usr/local/bin/mlflow-descope-auth"]
    # One layer per COPY, no base image: no shell, nothing but what we put there.
    out = stack.podman("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", stack.image, "-c", "true", check=False)
    assert out.returncode != 0
    # The running gateway is not root.
    pid = stack.podman("inspect", stack.name, "--format", "{{.State.Pid}}").stdout.strip()
    uid_line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == ["65532"] * 4


def test_ready_health_and_probe(stack: Stack) -> None:
    status, _, doc = call("GET", stack.url + "/ready")
    assert status == 200 and doc["status"] == "ready", doc
    assert all(v == "ok" for v in doc["checks"].values()), doc
    assert call("GET", stack.url + "/health")[0] == 200
    # The Compose health check: the binary probes /ready inside the container.
    out = stack.podman("exec", stack.name, "/usr/local/bin/mlflow-descope-auth", "probe")
    assert out.stdout.startswith("200 "), out.stdout


def test_signed_in_calls_reach_mlflow(stack: Stack) -> None:
    api = stack.url + "/api/2.0/mlflow"
    # No credentials: MLflow-shaped 401.
    status, _, doc = call("GET", api + "/experiments/search?max_results=1")
    assert status == 401 and doc["error_code"] == "UNAUTHENTICATED", doc

    # Sign in as the login page does: the flow's tokens, handed to /auth/session.
    status, _, tokens = call("POST", stack.sim_url + "/sim/flow/sign-in",
                             {"loginId": "admin@example.com", "projectId": PROJECT_ID, "flowId": "sign-up-or-in"},
                             {"Origin": stack.url})
    assert status == 200, tokens
    status, headers, doc = call("POST", stack.url + "/auth/session",
                                {"sessionJwt": tokens["sessionJwt"], "refreshJwt": tokens["refreshJwt"]},
                                {"Origin": stack.url})
    assert status == 200, doc
    cookie = "; ".join(c.split(";", 1)[0] for c in headers["set-cookie"])
    assert cookie, headers
    browser = {"Cookie": cookie, "Origin": stack.url}

    name = "image-test-" + secrets.token_hex(4)
    status, _, doc = call("POST", api + "/experiments/create", {"name": name}, browser)
    assert status == 200, doc
    exp_id = doc["experiment_id"]
    status, _, doc = call("GET", f"{api}/experiments/get?experiment_id={exp_id}", headers=browser)
    assert status == 200 and doc["experiment"]["name"] == name, doc

    # A machine with alice's access key: reads (default READ), may not rename.
    key = {"Authorization": "Bearer " + ALICE_KEY}
    status, _, doc = call("GET", f"{api}/experiments/get?experiment_id={exp_id}", headers=key)
    assert status == 200 and doc["experiment"]["name"] == name, doc
    status, _, doc = call("POST", api + "/experiments/update", {"experiment_id": exp_id, "new_name": name + "-x"}, key)
    assert status == 403 and doc["error_code"] == "PERMISSION_DENIED", doc
    status, _, doc = call("GET", api + "/users/current", headers=key)
    assert status == 200 and doc["user"]["username"] == "alice@example.com", doc
