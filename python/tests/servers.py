"""Real processes for the plugin's server tests: descope-sim, `mlflow server --app-name
descope-auth` with several workers, and the gateway in external mode (--mlflow-url).

Every process is started in its own process group and stopped by its own id (SIGTERM, then
SIGKILL of that group). Logs go to files the tests name in their failure messages.
"""

from __future__ import annotations

import http.client
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ADMIN = "mlflow-descope-auth-admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mlflow_bin() -> str | None:
    given = os.environ.get("MLFLOW_BIN")
    if given and Path(given).exists():
        return given
    candidate = Path(sys.executable).parent / "mlflow"
    return str(candidate) if candidate.exists() else shutil.which("mlflow")


def go_binaries() -> tuple[str, str] | None:
    gw = os.environ.get("GATEWAY_BIN") or str(REPO / "bin" / "mlflow-descope-auth")
    sim = os.environ.get("DESCOPE_SIM_BIN") or str(REPO / "bin" / "descope-sim")
    if Path(gw).exists() and Path(sim).exists():
        return gw, sim
    return None


def http_json(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
              timeout: float = 30) -> tuple[int, Any]:  # fmt: skip
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw, status = resp.read(), resp.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw) if raw else {}
    except ValueError:
        return status, raw.decode(errors="replace")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # whatever is left of its group
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def start(name: str, cmd: list[str], env: dict[str, str], logdir: Path) -> Proc:
    log = logdir / f"{name}.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    return Proc(name, popen, log)


def wait_http(proc: Proc, url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} exited {proc.popen.returncode}:\n{proc.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"{proc.name}: {url} not ready in {timeout:.0f}s:\n{proc.tail()}")


def start_sim(sim_bin: str, logdir: Path, project: str, key: str) -> tuple[Proc, str]:
    out = logdir / "descope-sim.stdout"
    with open(out, "wb") as o:
        popen = subprocess.Popen(
            [sim_bin, "--addr", "127.0.0.1:0", "--project-id", project, "--management-key", key],
            stdout=o, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    proc = Proc("descope-sim", popen, out)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        first = out.read_text().split("\n", 1)
        if len(first) == 2 and first[0].startswith("http://"):
            return proc, first[0].strip()
        time.sleep(0.05)
    proc.stop()
    raise AssertionError("descope-sim did not print its URL")


# ---------------------------------------------------------------- which worker served us


def _tcp_inode(local_port: int, remote_port: int) -> str | None:
    """Inode of the server-side socket of 127.0.0.1:local_port <-> 127.0.0.1:remote_port."""
    want_local = f"0100007F:{local_port:04X}"
    want_remote = f"0100007F:{remote_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[1] == want_local and parts[2] == want_remote:
            return parts[9]
    return None


def _pids_with_socket(inode: str, candidates: list[int]) -> list[int]:
    target = f"socket:[{inode}]"
    owners = []
    for pid in candidates:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) == target:
                        owners.append(pid)
                        break
                except OSError:
                    continue
        except OSError:
            continue
    return owners


def descendants(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                for c in (task / "children").read_text().split():
                    seen.append(int(c))
                    todo.append(int(c))
        except OSError:
            pass
    return seen


@dataclass
class Workers:
    """One keep-alive connection to each worker process of an MLflow server.

    The kernel hands each new connection to whichever worker accepts it first; the worker
    that holds the accepted socket (found through /proc) is the one that serves it.
    """

    server: Proc
    port: int
    count: int
    conns: dict[int, http.client.HTTPConnection] = field(default_factory=dict)

    def pin(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.conns) < self.count:
            if time.monotonic() > deadline:
                raise AssertionError(f"reached workers {sorted(self.conns)} of {self.count}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.request("GET", "/health")
            conn.getresponse().read()
            pid = self._owner(conn)
            if pid is None or pid in self.conns:
                conn.close()
                continue
            self.conns[pid] = conn

    def _owner(self, conn: http.client.HTTPConnection) -> int | None:
        assert conn.sock is not None
        inode = _tcp_inode(self.port, conn.sock.getsockname()[1])
        if inode is None:
            return None
        owners = _pids_with_socket(inode, descendants(self.server.popen.pid))
        return owners[0] if len(owners) == 1 else None

    def request(self, pid: int, method: str, path: str, headers: dict[str, str]) -> int:
        for _ in range(3):
            conn = self.conns[pid]
            try:
                conn.request(method, path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if self._owner(conn) == pid:
                    return resp.status
            except (http.client.HTTPException, OSError):
                pass
            # uvicorn closes idle keep-alive connections after 5 s: find this worker again.
            conn.close()
            del self.conns[pid]
            self.pin()
        raise AssertionError(f"could not reach worker {pid}")
