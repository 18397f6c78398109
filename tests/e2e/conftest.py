"""End-to-end harness: descope-sim + the gateway + the real MLflow, driven by the
official MLflow Python client in this pytest process.

One stack per session:

1. binaries: ``GATEWAY_BIN`` / ``DESCOPE_SIM_BIN``, else ``make build`` (bin/);
2. ``descope-sim --addr 127.0.0.1:0`` (its first stdout line is its URL);
3. ``mlflow-descope-auth serve`` on a free loopback port, which starts and
   supervises ``mlflow server --app-name descope-auth`` (``MLFLOW_BIN``, else
   ``.venv/bin/mlflow``); the harness waits for ``GET /ready`` == 200.

Both processes are stopped at the end (SIGTERM, then SIGKILL) and their logs stay
in ``$TEST_ARTIFACTS/e2e/`` (default ``test-artifacts/e2e/``).

The suite is skipped when MLflow (the executable or ``import mlflow`` here) is
missing, unless ``MDA_REQUIRE_ALL`` is set, in which case that is a failure.

Identity per test: the ``mlflow_env`` fixture sets ``MLFLOW_TRACKING_URI`` and one
credential (``MLFLOW_TRACKING_TOKEN``, or ``MLFLOW_TRACKING_USERNAME`` +
``MLFLOW_TRACKING_PASSWORD``) with monkeypatch. The MLflow client reads these at
request time (``mlflow.utils.credentials.get_default_host_creds`` is called for
every REST and artifact request), so switching identities inside a test works.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import util as importlib_util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECT_ID = "P2E2ETest0000000000000001"
MANAGEMENT_KEY = "sim-management-key"
EXCHANGE = "/v1/auth/accesskey/exchange"
READY_TIMEOUT = float(os.environ.get("E2E_READY_TIMEOUT", "180"))

# The gateway's own settings and every client credential are removed from the
# environment the two processes inherit; the harness sets what it wants.
_SCRUB_PREFIXES = ("DESCOPE_", "MLFLOW_DESCOPE_", "MLFLOW_AUTH_", "MLFLOW_TRACKING_")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: long transfers (300 MB artifact); deselect with -m 'not slow'"
    )


# Measured figures (memory, throughput, exchange counts): printed at the end of the
# run and written to $TEST_ARTIFACTS/e2e/figures.json.
FIGURES: dict[str, object] = {}


def _artifacts_dir() -> Path:
    return Path(os.environ.get("TEST_ARTIFACTS") or REPO / "test-artifacts") / "e2e"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if not FIGURES:
        return
    terminalreporter.section("e2e figures")
    for k, v in FIGURES.items():
        terminalreporter.write_line(f"{k}: {v}")
    try:
        d = _artifacts_dir()
        d.mkdir(parents=True, exist_ok=True)
        (d / "figures.json").write_text(json.dumps(FIGURES, indent=2, sort_keys=True) + "\n")
    except OSError:
        pass


@pytest.fixture
def record_figure(request) -> Callable[[str, object], None]:
    """record_figure(name, value): keep a measured figure for the run's summary."""

    def record(name: str, value: object) -> None:
        FIGURES[f"{request.node.name}: {name}"] = value

    return record


def _unavailable(reason: str) -> None:
    """Skip, or fail when MDA_REQUIRE_ALL says nothing may be skipped."""
    if os.environ.get("MDA_REQUIRE_ALL"):
        pytest.fail(f"MDA_REQUIRE_ALL is set: {reason}", pytrace=False)
    pytest.skip(reason)


def _mlflow_bin() -> Path | None:
    given = os.environ.get("MLFLOW_BIN")
    candidate = Path(given) if given else REPO / ".venv" / "bin" / "mlflow"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    return None


def _interpreter_of(script: Path) -> str | None:
    """The Python that runs a console script (from its shebang line)."""
    try:
        first = script.read_bytes().split(b"\n", 1)[0].decode()
    except OSError:
        return None
    if first.startswith("#!"):
        parts = first[2:].strip().split()
        if parts:
            return parts[0]
    return None


def _has_entry_point(python: str) -> bool:
    code = (
        "import sys\nfrom importlib.metadata import entry_points\n"
        "sys.exit(0 if any(e.name == 'descope-auth' for e in entry_points(group='mlflow.app')) else 1)"
    )
    return subprocess.run([python, "-c", code], capture_output=True, timeout=60).returncode == 0


def _plugin_shim(root: Path) -> str:
    """A PYTHONPATH that exposes python/ and its ``mlflow.app`` entry point to an
    MLflow environment where the plugin is not installed (``make venv`` installs
    it; a bare MLflow environment does not). Only the harness uses this."""
    dist = root / "mlflow_descope_auth-0.0.0+e2e.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mlflow-descope-auth\nVersion: 0.0.0+e2e\n"
    )
    (dist / "entry_points.txt").write_text(
        "[mlflow.app]\ndescope-auth = mlflow_descope_auth.app:create_app\n"
    )
    return os.pathsep.join([str(root), str(REPO / "python")])


def _binaries(log_dir: Path) -> tuple[str, str]:
    gw, sim = os.environ.get("GATEWAY_BIN"), os.environ.get("DESCOPE_SIM_BIN")
    if gw and sim:
        return gw, sim
    build_log = log_dir / "make-build.log"
    try:
        res = subprocess.run(
            ["make", "-s", "build"], cwd=REPO, capture_output=True, text=True, timeout=600
        )
    except FileNotFoundError:
        _unavailable("make is not installed and GATEWAY_BIN/DESCOPE_SIM_BIN are not set")
    build_log.write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        pytest.fail(f"make build failed (see {build_log}):\n{res.stderr[-3000:]}", pytrace=False)
    return gw or str(REPO / "bin" / "mlflow-descope-auth"), sim or str(REPO / "bin" / "descope-sim")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http(method: str, url: str, body: object = None, timeout: float = 10) -> tuple[int, dict, dict]:
    """A tiny JSON client for the simulator and health endpoints (stdlib only)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw, status, headers = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as e:
        raw, status, headers = e.read(), e.code, dict(e.headers)
    try:
        payload = json.loads(raw) if raw else {}
    except ValueError:
        payload = {"_raw": raw.decode(errors="replace")}
    return status, payload, headers


def _tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM, wait, then SIGKILL. Only this process (its id)."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return out


def _descendants(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        for c in _children(todo.pop()):
            seen.append(c)
            todo.append(c)
    return seen


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _bound_session(source: str):
    import requests
    from requests.adapters import HTTPAdapter

    class SourceAddressAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["source_address"] = (source, 0)
            super().init_poolmanager(*args, **kwargs)

    session = requests.Session()
    session.mount("http://", SourceAddressAdapter())
    return session


@dataclass
class Stack:
    """The running simulator and gateway, and helpers for the simulator's /sim/ API."""

    url: str
    sim_url: str
    gateway: subprocess.Popen
    sim_proc: subprocess.Popen
    gateway_log: Path
    sim_log: Path
    work: Path

    @property
    def gateway_pid(self) -> int:
        return self.gateway.pid

    # -- simulator control ------------------------------------------------
    def sim(self, method: str, path: str, body: object = None) -> dict:
        status, payload, _ = _http(method, self.sim_url + path, body)
        if status >= 300:
            raise AssertionError(f"sim {method} {path} -> {status}: {payload}")
        return payload

    def new_user(self, roles: list[str] | None = None, prefix: str = "user") -> str:
        """Creates an enabled Descope user and returns its user ID."""
        tag = f"{prefix}-{uuid.uuid4().hex[:10]}"
        user = self.sim(
            "POST",
            "/sim/users",
            {"email": f"{tag}@example.com", "name": tag, "roles": roles or [], "status": "enabled"},
        )["user"]
        return user.get("id") or user.get("userId")

    def username(self, user_id: str) -> str:
        """The MLflow username of a user new_user made: their login ID (the
        gateway's default MLFLOW_DESCOPE_USERNAME=loginId), never the user ID."""
        user = self.sim("GET", "/sim/users")
        for u in user.get("users", []):
            if (u.get("id") or u.get("userId")) == user_id:
                return u["loginIds"][0]
        raise AssertionError(f"no simulator user {user_id}")

    def session_jwt(self, user_id: str) -> str:
        return self.sim("POST", "/sim/tokens", {"userId": user_id})["sessionJwt"]

    def new_key(self, user_id: str | None = None, roles: list[str] | None = None) -> tuple[str, str]:
        """Creates an access key (bound to user_id when given); returns (key id, secret)."""
        body: dict = {"name": f"e2e-{uuid.uuid4().hex[:8]}", "roles": roles or []}
        if user_id:
            body["boundUserId"] = user_id
        k = self.sim("POST", "/sim/access-keys", body)
        return k["keyId"], k["secret"]

    def counts(self) -> dict[str, int]:
        return self.sim("GET", "/sim/counts").get("counts", {})

    def count(self, path: str = EXCHANGE) -> int:
        return int(self.counts().get(path, 0))

    def fault(self, **fault: object) -> None:
        self.sim("POST", "/sim/faults", fault)

    def clear_faults(self) -> None:
        self.sim("DELETE", "/sim/faults")

    # -- gateway ----------------------------------------------------------
    def log_text(self) -> str:
        return self.gateway_log.read_text(errors="replace")

    def http(self, source: str = "127.0.0.1"):
        """A requests.Session whose connections come from `source`, any 127.x.y.z
        address: the gateway keys its per-client limits on the peer address, so a
        test with its own address neither uses up nor inherits another's budget."""
        return _bound_session(source)

    def whoami(self, authorization: str, source: str = "127.0.0.1") -> dict:
        """GET /api/2.0/mlflow/users/current through the gateway: MLflow's view of the caller."""
        with self.http(source) as http:
            resp = http.get(
                self.url + "/api/2.0/mlflow/users/current",
                headers={"Authorization": authorization},
                timeout=30,
            )
        if resp.status_code != 200:  # not an AssertionError: never an expected failure
            raise RuntimeError(f"users/current -> {resp.status_code}: {resp.text[:300]}")
        return resp.json()["user"]

    def rss_kib(self) -> int:
        """The gateway's resident set size (VmRSS) in KiB."""
        for line in Path(f"/proc/{self.gateway_pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS for the gateway")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    mlflow_bin = _mlflow_bin()
    if mlflow_bin is None:
        _unavailable("no mlflow executable (set MLFLOW_BIN or run `make venv`)")
    if importlib_util.find_spec("mlflow") is None:
        _unavailable("the MLflow client (`import mlflow`) is not installed in this Python")

    artifacts = _artifacts_dir()
    artifacts.mkdir(parents=True, exist_ok=True)
    gateway_bin, sim_bin = _binaries(artifacts)
    work = tmp_path_factory.mktemp("e2e-stack")

    base_env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_SCRUB_PREFIXES)}

    # MLflow must see our plugin's entry point; a venv made by `make venv` has it.
    python = _interpreter_of(mlflow_bin)
    if python and not _has_entry_point(python):
        shim = _plugin_shim(work / "plugin-shim")
        base_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (shim, base_env.get("PYTHONPATH", "")) if p
        )

    sim_log, sim_out = artifacts / "descope-sim.log", work / "descope-sim.stdout"
    gateway_log = artifacts / "gateway.log"
    with open(sim_out, "wb") as out, open(sim_log, "wb") as err:
        sim_proc = subprocess.Popen(
            [sim_bin, "--addr", "127.0.0.1:0", "--project-id", PROJECT_ID,
             "--management-key", MANAGEMENT_KEY],
            stdout=out, stderr=err, env=base_env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    gateway = None
    try:
        deadline = time.monotonic() + 30
        sim_url = ""
        while time.monotonic() < deadline and not sim_url:
            first = sim_out.read_text().split("\n", 1)
            if len(first) == 2 and first[0].strip():
                sim_url = first[0].strip()
            elif sim_proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        if not sim_url.startswith("http://127.0.0.1:"):
            pytest.fail(f"descope-sim did not print its URL: {sim_url!r}\n{_tail(sim_log)}", pytrace=False)

        port = _free_port()
        env = dict(base_env)
        env.update(
            DESCOPE_PROJECT_ID=PROJECT_ID,
            DESCOPE_BASE_URI=sim_url,
            DESCOPE_MANAGEMENT_KEY=MANAGEMENT_KEY,
            MLFLOW_BACKEND_STORE_URI=f"sqlite:///{work / 'mlflow.db'}",
            MLFLOW_ARTIFACT_ROOT=str(work / "artifacts"),
            MLFLOW_DESCOPE_METRICS_ADDR="",
            MLFLOW_DESCOPE_LOG_FORMAT="text",
        )
        with open(gateway_log, "wb") as log:
            gateway = subprocess.Popen(
                [gateway_bin, "serve", "--port", str(port), "--data-dir", str(work / "data"),
                 "--mlflow-bin", str(mlflow_bin)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline, last = time.monotonic() + READY_TIMEOUT, None
        while True:
            if gateway.poll() is not None:
                pytest.fail(
                    f"the gateway exited with {gateway.returncode} before it was ready:\n{_tail(gateway_log)}",
                    pytrace=False,
                )
            try:
                last = _http("GET", url + "/ready", timeout=3)[0]
            except OSError as e:
                last = repr(e)
            if last == 200:
                break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"GET /ready was not 200 within {READY_TIMEOUT:.0f}s (last: {last}):\n{_tail(gateway_log)}",
                    pytrace=False,
                )
            time.sleep(0.25)

        s = Stack(url=url, sim_url=sim_url, gateway=gateway, sim_proc=sim_proc,
                  gateway_log=gateway_log, sim_log=sim_log, work=work)  # fmt: skip
        yield s
    finally:
        survivors: list[int] = []
        if gateway is not None:
            descendants = _descendants(gateway.pid)
            _stop(gateway, grace=45)
            time.sleep(0.5)
            survivors = [p for p in descendants if _alive(p)]
            for p in survivors:  # started (indirectly) by this harness: stop them
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        _stop(sim_proc, grace=10)
        if survivors:
            pytest.fail(
                f"processes started by the gateway outlived it after SIGTERM: {survivors} "
                f"(see {gateway_log})",
                pytrace=False,
            )


# -- the MLflow client ------------------------------------------------------------


@dataclass
class MlflowEnv:
    """Points the MLflow client at the gateway with one credential at a time."""

    stack: Stack
    monkeypatch: pytest.MonkeyPatch

    def _clear(self) -> None:
        for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            self.monkeypatch.delenv(name, raising=False)

    def token(self, token: str) -> None:
        """Authorization: Bearer <token> (a session JWT or an access key)."""
        self._clear()
        self.monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)

    def basic(self, password: str, username: str = "ci-job") -> None:
        """Authorization: Basic <username:password> (the key is the password)."""
        self._clear()
        self.monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
        self.monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)

    def key(self, secret: str, mode: str) -> None:
        """An access key, as a bearer token (mode "bearer") or Basic password ("basic")."""
        if mode == "bearer":
            self.token(secret)
        elif mode == "basic":
            self.basic(secret)
        else:
            raise ValueError(mode)

    def none(self) -> None:
        self._clear()


@pytest.fixture
def mlflow_env(stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MlflowEnv]:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", stack.url)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    # No stray ~/.mlflow/credentials, no telemetry, no git lookups.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("GIT_PYTHON_REFRESH", "quiet")
    mlflow.set_tracking_uri(stack.url)
    mlflow.set_registry_uri(stack.url)
    env = MlflowEnv(stack, monkeypatch)
    env.none()
    try:
        yield env
    finally:
        while mlflow.active_run() is not None:
            try:
                mlflow.end_run()
            except Exception:  # the credential may already be gone
                break


# -- assertions ---------------------------------------------------------------


def _status_and_code(exc: BaseException) -> tuple[int | None, str | None]:
    """HTTP status and MLflow error code of whatever the client raised."""
    status = code = None
    get_status = getattr(exc, "get_http_status_code", None)
    if callable(get_status):
        status = get_status()
    code = getattr(exc, "error_code", None)
    resp = getattr(exc, "response", None)  # requests.HTTPError (artifact repository)
    if resp is not None:
        status = resp.status_code
        try:
            code = resp.json().get("error_code", code)
        except ValueError:
            # MLflow's own RBAC answers artifact-proxy denials with a plain-text
            # "Permission denied"; read the status the way the client reads a
            # non-JSON REST error.
            from mlflow.protos import databricks_pb2
            from mlflow.exceptions import get_error_code

            code = databricks_pb2.ErrorCode.Name(get_error_code(status))
    if status is None or code is None:  # MLflow wraps some failures in its own message
        text = str(exc)
        for s, c in ((403, "PERMISSION_DENIED"), (401, "UNAUTHENTICATED")):
            if c in text:
                status, code = status or s, code or c
    return status, code


@pytest.fixture
def expect_http_error() -> Callable[..., BaseException]:
    """expect_http_error(403, "PERMISSION_DENIED", fn, *args) runs fn, requires it to
    fail with that status and MLflow error code, quickly (no client retries)."""

    def check(status: int, code: str, fn: Callable, *args, within: float = 10.0, **kwargs) -> BaseException:
        t0 = time.monotonic()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the client raises several types
            took = time.monotonic() - t0
            got = _status_and_code(exc)
            name = getattr(fn, "__qualname__", repr(fn))
            assert got == (status, code), f"{name}: expected {status} {code}, got {got}: {exc!r}"[:2000]
            assert took < within, f"{name}: failing took {took:.1f}s (retried?)"
            return exc
        raise AssertionError(f"{getattr(fn, '__qualname__', fn)} succeeded, expected {status} {code}: {result!r}")

    return check


@pytest.fixture
def denied(expect_http_error) -> Callable[..., BaseException]:
    """denied(fn, *args): the call fails with 403 PERMISSION_DENIED."""

    def check(fn: Callable, *args, **kwargs) -> BaseException:
        return expect_http_error(403, "PERMISSION_DENIED", fn, *args, **kwargs)

    return check


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def uniq() -> Callable[[str], str]:
    return unique
