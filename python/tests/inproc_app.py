"""MLflow's auth app in this process, driven through Flask's test client: one scenario per run.

MLflow's auth module reads its configuration at import and keeps process-wide state (stores,
caches, patches), so every scenario runs in a fresh interpreter::

    python inproc_app.py '{"scenario": "coherence", "db": "sqlite", "tmp": "/tmp/x", ...}'

and prints one JSON line (its result) last. Tests call ``run()``. Requests go through the real
Flask app with MLflow's before- and after-request handlers, as under uvicorn.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SECRET = b"inproc-secret-0123456789abcdef0123"
ADMIN = "admin"
HERE = Path(__file__).resolve().parent


def run(config: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """Run one scenario in a fresh interpreter; return its JSON result (raises on failure)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "_MLFLOW_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parent), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, str(Path(__file__)), json.dumps(config)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise AssertionError(
            f"scenario {config.get('scenario')} exited {proc.returncode}:\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return json.loads(lines[-1])  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- in the child


class App:
    """The app, its stores, a test client and an outside writer for the auth database."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        tmp = Path(cfg["tmp"])
        tmp.mkdir(parents=True, exist_ok=True)
        self.workspaces = bool(cfg.get("workspaces"))
        auth_uri = cfg.get("auth_uri") or f"sqlite:///{tmp / 'auth.db'}"
        tracking_uri = cfg.get("tracking_uri") or f"sqlite:///{tmp / 'mlflow.db'}"
        (tmp / "auth.ini").write_text(
            "[mlflow]\n"
            f"default_permission = {cfg.get('default_permission', 'NO_PERMISSIONS')}\n"
            f"database_uri = {auth_uri.replace('%', '%%')}\n"
            f"admin_username = {ADMIN}\n"
            "admin_password = inproc-admin-password-1\n"  # MLflow 3.12 reads it from the file only
            "authorization_function = mlflow_descope_auth.auth:authenticate\n"
        )
        os.environ.update(
            MLFLOW_AUTH_CONFIG_PATH=str(tmp / "auth.ini"),
            MLFLOW_FLASK_SERVER_SECRET_KEY="inproc-flask-secret",
            MLFLOW_AUTH_ADMIN_USERNAME=ADMIN,
            MLFLOW_AUTH_ADMIN_PASSWORD="inproc-admin-password-1",
            MLFLOW_DESCOPE_ASSERTION_SECRET=SECRET.decode(),
            _MLFLOW_SERVER_FILE_STORE=tracking_uri,
            _MLFLOW_SERVER_ARTIFACT_ROOT=str(tmp / "artifacts"),
            MLFLOW_DISABLE_TELEMETRY="true",
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
            MLFLOW_DESCOPE_AUTH_SPEEDUPS=cfg.get("speedups", "on"),
        )
        if self.workspaces:
            os.environ["MLFLOW_ENABLE_WORKSPACES"] = "true"
        if cfg.get("tamper"):
            _tamper(cfg["tamper"])
        from mlflow_descope_auth.app import create_app

        self.app = create_app()
        import mlflow.server.auth as auth
        from mlflow.server.handlers import _get_model_registry_store, _get_tracking_store

        from mlflow_descope_auth import speedups

        self.auth = auth
        self.status = speedups.status()
        self.tracking = _get_tracking_store()
        self.registry = _get_model_registry_store()
        self.client = self.app.test_client()
        self.workspace = "default"
        self.outside = OutsideWriter(auth_uri)

    def headers(self, user: str) -> dict[str, str]:
        from mlflow_descope_auth.assertion import HEADER, sign

        now = int(time.time())
        h = {HEADER: sign(SECRET, user, now, now + 300)}
        if self.workspaces:
            h["X-MLFLOW-WORKSPACE"] = self.workspace
        return h

    def call(self, user: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if method == "GET":
            resp = self.client.get(path, query_string=body, headers=self.headers(user))
        else:
            resp = self.client.open(path, method=method, json=body, headers=self.headers(user))
        try:
            payload = resp.get_json(silent=True)
        except Exception:
            payload = None
        return resp.status_code, payload if payload is not None else resp.get_data(as_text=True)

    def ok(self, user: str, method: str, path: str, body: Any = None) -> Any:
        status, payload = self.call(user, method, path, body)
        if status >= 300:
            raise AssertionError(f"{method} {path} as {user} -> {status}: {payload}")
        return payload

    def create_user(self, name: str) -> int:
        self.ok(ADMIN, "POST", "/api/2.0/mlflow/users/create", {"username": name, "password": "password-" + name * 3})
        return int(self.auth.store.get_user(name).id)


def _tamper(name: str) -> None:
    """Replace ``module:function`` with a wrapper: same behaviour, other source, as a patched
    or newer MLflow would have."""
    import importlib

    module_name, _, attr = name.partition(":")
    module = importlib.import_module(module_name)
    original = getattr(module, attr)

    def tampered(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **kwargs)

    setattr(module, attr, tampered)


class OutsideWriter:
    """Writes the auth database over its own connection, as an operator's SQL would."""

    def __init__(self, uri: str) -> None:
        import sqlalchemy

        self.engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)

    def sql(self, statement: str, **params: Any) -> list[Any]:
        import sqlalchemy

        with self.engine.begin() as conn:
            result = conn.execute(sqlalchemy.text(statement), params)
            return list(result) if result.returns_rows else []


@contextmanager
def statements(engines: dict[str, Any]) -> Iterator[dict[str, list[str]]]:
    """Every SQL statement sent on each engine inside the block, by engine name."""
    from sqlalchemy import event

    seen: dict[str, list[str]] = {name: [] for name in engines}
    hooks = []
    for name, engine in engines.items():

        def hook(conn, cursor, statement, params, context, many, _name=name):  # noqa: ANN001
            seen[_name].append(" ".join(statement.split()))

        event.listen(engine, "before_cursor_execute", hook)
        hooks.append((engine, hook))
    try:
        yield seen
    finally:
        for engine, hook in hooks:
            event.remove(engine, "before_cursor_execute", hook)


def _run_id(app: App, user: str, experiment_id: str) -> str:
    return app.ok(user, "POST", "/api/2.0/mlflow/runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]


# --------------------------------------------------------------------------- scenarios


def scenario_statements(app: App, cfg: dict[str, Any]) -> dict[str, Any]:
    """SQL statements per request, by database, for a user with MANAGE on one experiment."""
    app.create_user("carol")
    exp = app.ok(ADMIN, "POST", "/api/2.0/mlflow/experiments/create", {"name": "counted"})["experiment_id"]
    app.ok(ADMIN, "POST", "/api/3.0/mlflow/users/permissions/grant",
           {"username": "carol", "resource_type": "experiment", "resource_id": exp, "permission": "MANAGE"})  # fmt: skip
    run_id = _run_id(app, "carol", exp)
    batch = {
        "run_id": run_id,
        "metrics": [{"key": f"m{i}", "value": i, "timestamp": 1, "step": 0} for i in range(10)],
        "tags": [{"key": "t", "value": "v"}],
    }
    requests: dict[str, Callable[[], Any]] = {
        "read": lambda: app.ok("carol", "GET", "/api/2.0/mlflow/experiments/get", {"experiment_id": exp}),
        "write": lambda: app.ok("carol", "POST", "/api/2.0/mlflow/runs/log-batch", batch),
        "get_run": lambda: app.ok("carol", "GET", "/api/2.0/mlflow/runs/get", {"run_id": run_id}),
        "search": lambda: app.ok("carol", "POST", "/api/2.0/mlflow/experiments/search", {"max_results": 1000}),
    }
    engines = {"auth": app.auth.store.engine, "tracking": app.tracking.engine}
    out: dict[str, Any] = {"status": app.status.enabled}
    counter = app.status.counter
    reads = {"n": 0}
    if counter is not None:  # the counter has its own connections, used through the DBAPI
        fetch = counter._fetch

        def counted() -> Any:
            reads["n"] += 1
            return fetch()

        counter._fetch = counted
    for name, send in requests.items():
        send()  # warm
        reads["n"] = 0
        with statements(engines) as seen:
            send()
        out[name] = {**seen, "counter_reads": reads["n"]}
    return out


def scenario_coherence(app: App, cfg: dict[str, Any]) -> dict[str, Any]:
    """Each kind of auth change applies to the very next request; the cache is really used."""
    alice = app.create_user("alice")
    exp = app.ok(ADMIN, "POST", "/api/2.0/mlflow/experiments/create", {"name": "guarded"})["experiment_id"]
    read = ("GET", "/api/2.0/mlflow/experiments/get", {"experiment_id": exp})
    steps: list[dict[str, Any]] = []
    memo = app.status.memo

    def expect(label: str, status: int) -> None:
        for _ in range(2):  # the second request is served from the cache
            got, _payload = app.call("alice", *read)
            steps.append({"step": label, "want": status, "got": got})

    def grant(permission: str) -> None:
        app.ok(ADMIN, "POST", "/api/3.0/mlflow/users/permissions/grant",
               {"username": "alice", "resource_type": "experiment", "resource_id": exp, "permission": permission})  # fmt: skip

    expect("no grant", 403)
    grant("READ")
    expect("granted through the admin API", 200)
    app.ok(ADMIN, "POST", "/api/3.0/mlflow/users/permissions/revoke",
           {"username": "alice", "resource_type": "experiment", "resource_id": exp})  # fmt: skip
    expect("revoked through the admin API", 403)

    role = app.outside.sql(
        "SELECT r.id FROM roles r JOIN user_role_assignments a ON a.role_id = r.id WHERE a.user_id = :u",
        u=alice,
    )[0][0]
    app.outside.sql(
        "INSERT INTO role_permissions (role_id, resource_type, resource_pattern, permission) "
        "VALUES (:r, 'experiment', :e, 'READ')", r=role, e=exp,
    )  # fmt: skip
    expect("granted by direct SQL", 200)
    app.outside.sql("UPDATE role_permissions SET permission = 'DENY' WHERE role_id = :r", r=role)
    expect("denied by direct SQL", 403)
    app.outside.sql("DELETE FROM role_permissions WHERE role_id = :r", r=role)
    app.outside.sql("UPDATE users SET is_admin = :t WHERE id = :u", t=True, u=alice)
    expect("made admin by direct SQL", 200)
    app.outside.sql("UPDATE users SET is_admin = :f WHERE id = :u", f=False, u=alice)
    expect("admin taken away by direct SQL", 403)

    workspace = app.workspace
    made = app.ok(ADMIN, "POST", "/api/3.0/mlflow/roles/create", {"name": "readers", "workspace": workspace})
    role_id = made["role"]["id"]
    app.ok(ADMIN, "POST", "/api/3.0/mlflow/roles/permissions/add",
           {"role_id": role_id, "resource_type": "experiment", "resource_pattern": exp, "permission": "READ"})  # fmt: skip
    expect("role with a grant, not assigned", 403)
    app.ok(ADMIN, "POST", "/api/3.0/mlflow/roles/assign", {"username": "alice", "role_id": role_id})
    expect("role assigned", 200)
    app.ok(ADMIN, "DELETE", "/api/3.0/mlflow/roles/unassign", {"username": "alice", "role_id": role_id})
    expect("role unassigned", 403)

    # A trigger dropped behind the plugin's back: the change it would have counted must
    # still apply (caches bypassed), and the trigger comes back.
    counter = app.status.counter
    dropped = None
    if counter is not None:
        counter._reinstall_every = 0.0
        dropped = "mlflow_descope_auth_user_role_assignments_" + ("ins" if counter.dialect == "sqlite" else "row")
        app.outside.sql(f"DROP TRIGGER {dropped}" + (" ON user_role_assignments" if counter.dialect != "sqlite" else ""))
    app.outside.sql("INSERT INTO user_role_assignments (user_id, role_id) VALUES (:u, :r)", u=alice, r=role_id)
    expect("assigned by SQL while a trigger was missing", 200)
    reinstalled = counter.read() is not None if counter is not None else None
    app.outside.sql("DELETE FROM user_role_assignments WHERE user_id = :u AND role_id = :r", u=alice, r=role_id)
    expect("unassigned by SQL after the reinstall", 403)
    return {
        "status": app.status.enabled,
        "steps": steps,
        "hits": memo.hits if memo is not None else None,
        "reinstalled": reinstalled,
    }


def scenario_basics(app: App, cfg: dict[str, Any]) -> dict[str, Any]:
    """Reads and writes still authorized right, whatever is on."""
    app.create_user("alice")
    exp = app.ok(ADMIN, "POST", "/api/2.0/mlflow/experiments/create", {"name": "basics"})["experiment_id"]
    before = app.call("alice", "GET", "/api/2.0/mlflow/experiments/get", {"experiment_id": exp})[0]
    store = app.auth.store
    if hasattr(store, "grant_user_resource_permission"):  # MLflow 3.17+
        store.grant_user_resource_permission("alice", "experiment", exp, "EDIT")
    else:  # older releases (the CI matrix): the per-experiment permission table
        store.create_experiment_permission(exp, "alice", "EDIT")
    after = app.call("alice", "GET", "/api/2.0/mlflow/experiments/get", {"experiment_id": exp})[0]
    run_id = _run_id(app, "alice", exp)
    logged = app.call("alice", "POST", "/api/2.0/mlflow/runs/log-metric",
                      {"run_id": run_id, "key": "m", "value": 1, "timestamp": 1})[0]  # fmt: skip
    app.create_user("eve")
    foreign = app.call("eve", "POST", "/api/2.0/mlflow/runs/log-metric",
                       {"run_id": run_id, "key": "m", "value": 2, "timestamp": 2})[0]  # fmt: skip
    listed = app.ok("alice", "POST", "/api/2.0/mlflow/experiments/search", {"max_results": 10})
    return {
        "status": app.status.enabled,
        "reasons": app.status.reasons,
        "codes": [before, after, logged, foreign],
        "listed": sorted(e["experiment_id"] for e in listed.get("experiments", [])),
        "exp": exp,
        "statements": scenario_statements(app, cfg) if cfg.get("count") else None,
    }


def main() -> None:
    cfg = json.loads(sys.argv[1])
    app = App(cfg)
    if cfg.get("workspace"):
        app.workspace = cfg["workspace"]
    scenario = cfg["scenario"]
    if scenario == "equivalence":
        from equivalence import scenario_equivalence

        result = scenario_equivalence(app, cfg)
    else:
        result = globals()[f"scenario_{scenario}"](app, cfg)
    sys.stdout.write("\n" + json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    main()
