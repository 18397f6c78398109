#!/usr/bin/env python3
"""Side-by-side c=1 throughput of MLflow alone and MLflow with the plugin, speed-ups on/off.

    .venv/bin/python scripts/bench-plugin.py [--seconds 3] [--rounds 4] [--workers 2]

Three `mlflow server`s (2 uvicorn workers each, SQLite) start from copies of one template:
5,000 experiments, a user with MANAGE on one of them and READ on 50 others, default
permission NO_PERMISSIONS. (a) no auth; (on) `--app-name descope-auth`; (off) the same with
MLFLOW_DESCOPE_AUTH_SPEEDUPS=off, i.e. MLflow's own RBAC. The plugin servers are called
directly with a signed assertion (no gateway). Workloads: read `GET experiments/get`, write
`POST runs/log-batch` (10 metrics, 1 tag), search `POST experiments/search` with
max_results 1,000 (the user sees 50; (a) does not filter and returns 1,000). The configurations
take turns in short bursts, so background load hits each alike. Closed loop, one keep-alive
connection with TCP_QUICKACK kept on (like bench/: uvicorn with several workers leaves
Nagle on, and without it every keep-alive request waits for a delayed ACK).

Prints a table; everything runs on 127.0.0.1 and is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))
from mlflow_descope_auth.assertion import HEADER, sign  # noqa: E402

SECRET = b"bench-plugin-secret-0123456789abcdef"
ADMIN = "bench-admin"
USER = "bench-user"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def template(root: Path, python: str, experiments: int, readable: int) -> dict[str, str]:
    """Schemas by MLflow's own stores, bulk rows by SQL, grants by the auth store."""
    code = f"""
import os, sys
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as T
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore as A
T("sqlite:///{root}/mlflow.db", "{root}/artifacts")
a = A(); a.init_db("sqlite:///{root}/auth.db")
a.create_user("{ADMIN}", "bench-admin-password", is_admin=True)
a.create_user("{USER}", "bench-user-password")
"""
    subprocess.run([python, "-c", code], check=True, capture_output=True, env=_clean_env())
    db = sqlite3.connect(root / "mlflow.db")
    now = int(time.time() * 1000)
    rows = [(f"bench-{i:05d}", f"{root}/artifacts/{i + 1}", "active", now + i, now + i) for i in range(experiments + 1)]
    db.executemany(
        "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time,"
        " workspace) VALUES (?, ?, ?, ?, ?, 'default')", rows)  # fmt: skip
    db.commit()
    ids = [r[0] for r in db.execute("SELECT experiment_id FROM experiments WHERE name LIKE 'bench-%' ORDER BY experiment_id")]
    db.close()
    rw, search_ids = str(ids[0]), [str(i) for i in ids[1:]]
    step = max(len(search_ids) // readable, 1)
    grants = [(rw, "MANAGE")] + [(e, "READ") for e in search_ids[::step][:readable]]
    code = f"""
import json, sys
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore as A
a = A(); a.init_db("sqlite:///{root}/auth.db")
for exp, perm in json.loads(sys.argv[1]):
    a.grant_user_resource_permission("{USER}", "experiment", exp, perm)
"""
    subprocess.run([python, "-c", code, json.dumps(grants)], check=True, capture_output=True, env=_clean_env())
    return {"rw": rw}


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "_MLFLOW_"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # as the Supervisor runs MLflow
    return env


class _QuickAckReader(io.RawIOBase):
    """Reads the socket with TCP_QUICKACK set before every recv (Linux resets it)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001
        self._sock.setsockopt(socket.IPPROTO_TCP, 12, 1)  # TCP_QUICKACK
        return self._sock.recv_into(b)


class _QuickAckSocket:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def makefile(self, mode: str, *args: object, **kwargs: object) -> io.BufferedReader:
        return io.BufferedReader(_QuickAckReader(self._sock))

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


class _Connection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = _QuickAckSocket(self.sock)  # type: ignore[assignment]


class Server:
    def __init__(self, name: str, root: Path, src: Path, mlflow: str, workers: int, auth: bool, speedups: str) -> None:
        self.name = name
        d = root / name
        d.mkdir()
        for f in ("mlflow.db", "auth.db"):
            shutil.copy(src / f, d / f)
        self.port = free_port()
        env = _clean_env()
        cmd = [mlflow, "server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
               "--backend-store-uri", f"sqlite:///{d / 'mlflow.db'}", "--serve-artifacts",
               "--artifacts-destination", str(d / "artifacts")]  # fmt: skip
        if auth:
            (d / "auth.ini").write_text(
                f"[mlflow]\ndefault_permission = NO_PERMISSIONS\ndatabase_uri = sqlite:///{d / 'auth.db'}\n"
                f"admin_username = {ADMIN}\nauthorization_function = mlflow_descope_auth.auth:authenticate\n"
            )
            cmd += ["--app-name", "descope-auth"]
            env.update(MLFLOW_AUTH_CONFIG_PATH=str(d / "auth.ini"), MLFLOW_FLASK_SERVER_SECRET_KEY="bench",
                       MLFLOW_AUTH_ADMIN_USERNAME=ADMIN, MLFLOW_AUTH_ADMIN_PASSWORD="bench-admin-password",
                       MLFLOW_DESCOPE_ASSERTION_SECRET=SECRET.decode(), MLFLOW_DESCOPE_AUTH_SPEEDUPS=speedups)  # fmt: skip
        self.log = open(d / "server.log", "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.auth = auth
        self.conn: http.client.HTTPConnection | None = None

    def wait(self) -> None:
        for _ in range(1200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"{self.name} exited")
                time.sleep(0.25)
        raise SystemExit(f"{self.name} not ready")

    def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.auth:
            now = int(time.time())
            headers[HEADER] = sign(SECRET, USER, now, now + 60)
        for _ in range(2):
            if self.conn is None:
                self.conn = _Connection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
        raise RuntimeError(f"{self.name}: {method} {path} failed twice")

    def cpu_seconds(self) -> float:
        """utime + stime of the server's processes (the CLI, uvicorn and its workers)."""
        total, todo = 0, [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--experiments", type=int, default=5000)
    ap.add_argument("--readable", type=int, default=50)
    args = ap.parse_args()
    mlflow = str(REPO / ".venv" / "bin" / "mlflow")
    python = str(REPO / ".venv" / "bin" / "python")
    root = Path(tempfile.mkdtemp(prefix="bench-plugin-"))
    servers: list[Server] = []
    try:
        (root / "template").mkdir()
        ids = template(root / "template", python, args.experiments, args.readable)
        for name, auth, speedups in (("alone", False, ""), ("off", True, "off"), ("on", True, "on")):
            servers.append(Server(name, root, root / "template", mlflow, args.workers, auth, speedups))
        for s in servers:
            s.wait()
        runs = {}
        for s in servers:
            status, data = s.request("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": ids["rw"]})
            assert status == 200, (s.name, status, data[:300])
            runs[s.name] = json.loads(data)["run"]["info"]["run_id"]
        batch = lambda run: {"run_id": run, "tags": [{"key": "t", "value": "v"}],  # noqa: E731
                             "metrics": [{"key": f"m{i}", "value": i, "timestamp": 1, "step": 0} for i in range(10)]}
        workloads = {
            "read": lambda s: ("GET", f"/api/2.0/mlflow/experiments/get?experiment_id={ids['rw']}", None),
            "write": lambda s: ("POST", "/api/2.0/mlflow/runs/log-batch", batch(runs[s.name])),
            "search": lambda s: ("POST", "/api/2.0/mlflow/experiments/search", {"max_results": 1000}),
        }
        print(f"# {args.workers} workers/server, c=1, {args.rounds} rounds x {args.seconds}s bursts, "
              f"loadavg {os.getloadavg()[0]:.1f}")  # fmt: skip
        print("| workload | config | req/s | p50 ms | server CPU ms/req | rows | ×alone (req/s) | ×alone (CPU) |")
        print("|---|---|--:|--:|--:|--:|--:|--:|")
        for wname, make in workloads.items():
            lat: dict[str, list[float]] = {s.name: [] for s in servers}
            busy: dict[str, float] = {s.name: 0.0 for s in servers}
            cpu: dict[str, float] = {s.name: 0.0 for s in servers}
            rows: dict[str, int] = {}
            for s in servers:  # warm every worker's caches and connections
                for _ in range(6):
                    status, data = s.request(*make(s))
            for _ in range(args.rounds):
                for s in servers:
                    cpu0 = s.cpu_seconds()
                    end = time.perf_counter() + args.seconds
                    while time.perf_counter() < end:
                        t0 = time.perf_counter()
                        status, data = s.request(*make(s))
                        dt = time.perf_counter() - t0
                        assert status == 200, (s.name, wname, status, data[:300])
                        lat[s.name].append(dt)
                        busy[s.name] += dt
                    cpu[s.name] += s.cpu_seconds() - cpu0
                    if wname == "search":
                        rows[s.name] = len(json.loads(data).get("experiments", []))
            base = len(lat["alone"]) / busy["alone"]
            base_cpu = cpu["alone"] / len(lat["alone"])
            for s in servers:
                rps = len(lat[s.name]) / busy[s.name]
                per = cpu[s.name] / len(lat[s.name])
                print(f"| {wname} | {s.name} | {rps:.1f} | {statistics.median(lat[s.name]) * 1000:.2f} | "
                      f"{per * 1000:.1f} | {rows.get(s.name, '')} | {rps / base:.2f} | {base_cpu / per:.2f} |")  # fmt: skip
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
