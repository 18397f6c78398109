"""Randomized check: searches filtered in SQL return what MLflow's own after-the-fact filter
returns, page by page, on the same database (run by inproc_app.py, scenario "equivalence").

One seeded random generator builds the data (experiments with tags, some deleted; registered
models; prompts tagged ``true``/``TRUE``/``false``; logged models; in every workspace when
workspaces are on) and then, per case: the configured default permission, whether the default
workspace grants it, random roles with random grants for several users (ids that exist, ids
that do not, non-canonical ids like ``07``, wildcards, every permission level and DENY,
workspace USE/MANAGE, sub-resource tiers), sometimes an admin, a random request workspace, and
random searches (filters, ordering, view types, page sizes). Each search is paged to the end
twice: with the speed-ups, and as MLflow alone (the SQL filter and the cache both taken out).
Every answer is compared in full: status, every row's JSON, and the page boundaries.
"""

from __future__ import annotations

import random
from typing import Any

_PERMS = ["READ", "USE", "EDIT", "MANAGE", "DENY"]
_DEFAULTS = ["NO_PERMISSIONS", "NO_PERMISSIONS", "READ", "READ", "USE", "EDIT", "MANAGE"]
_USERS = ["u0", "u1", "u2", "u3"]


def _build_data(app: Any, rng: random.Random, workspaces: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {"experiments": {}, "models": {}, "logged": {}}
    for ws in workspaces:
        app.workspace = ws
        exps = []
        for i in range(rng.randint(14, 22)):
            name = f"exp-{i:02d}-{ws}-{rng.choice('abc')}"
            tags = [{"key": "team", "value": rng.choice("ab")}]
            exp = app.ok("admin", "POST", "/api/2.0/mlflow/experiments/create", {"name": name, "tags": tags})
            exps.append(exp["experiment_id"])
        for exp in rng.sample(exps, 4):
            app.ok("admin", "POST", "/api/2.0/mlflow/experiments/delete", {"experiment_id": exp})
        data["experiments"][ws] = exps
        models = []
        for i in range(rng.randint(8, 14)):
            tags = [{"key": "team", "value": rng.choice("ab")}]
            marker = rng.choice([None, None, "true", "TRUE", "false"])
            if marker is not None:
                tags.append({"key": "mlflow.prompt.is_prompt", "value": marker})
            name = f"rm-{i:02d}-{ws}"
            app.ok("admin", "POST", "/api/2.0/mlflow/registered-models/create", {"name": name, "tags": tags})
            models.append(name)
        data["models"][ws] = models
        logged = []
        for _ in range(rng.randint(8, 14)):
            exp = rng.choice(exps)
            status, body = app.call("admin", "POST", "/api/2.0/mlflow/logged-models", {"experiment_id": exp})
            if status == 200:
                logged.append(exp)
        data["logged"][ws] = sorted(set(logged))
    app.workspace = "default"
    return data


def _random_grants(sql: Any, rng: random.Random, data: dict[str, Any], workspaces: list[str], user_ids: dict[str, int]) -> None:
    sql("DELETE FROM user_role_assignments")
    sql("DELETE FROM role_permissions")
    sql("DELETE FROM roles")
    for user in _USERS:
        sql("UPDATE users SET is_admin = :f WHERE username = :u", f=rng.random() < 0.06, u=user)
    all_exps = [e for ws in workspaces for e in data["experiments"][ws]]
    all_models = [m for ws in workspaces for m in data["models"][ws]]
    role_no = 0
    for user in _USERS:
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            ws = rng.choice(workspaces)
            role_no += 1
            sql("INSERT INTO roles (name, workspace) VALUES (:n, :w)", n=f"role-{role_no}", w=ws)
            role_id = sql("SELECT id FROM roles WHERE name = :n", n=f"role-{role_no}")[0][0]
            sql("INSERT INTO user_role_assignments (user_id, role_id) VALUES (:u, :r)", u=user_ids[user], r=role_id)
            seen = set()
            for _ in range(rng.choice([0, 1, 2, 3, 5, 8])):
                kind = rng.choice(["experiment"] * 5 + ["registered_model"] * 2 + ["prompt"] * 2
                                  + ["logged_model", "run", "workspace"])  # fmt: skip
                perm = rng.choice(_PERMS)
                if kind == "experiment":
                    pattern = rng.choice(all_exps * 3 + ["*", "0" + rng.choice(all_exps), "987654"])
                elif kind in ("registered_model", "prompt"):
                    pattern = rng.choice(all_models * 2 + ["*", "no-such-model"])
                elif kind == "workspace":
                    pattern, perm = "*", rng.choice(["USE", "USE", "MANAGE", "READ"])
                else:
                    pattern = rng.choice(["*", "*", "*", rng.choice(all_exps)])
                if (kind, pattern) in seen:
                    continue
                seen.add((kind, pattern))
                sql("INSERT INTO role_permissions (role_id, resource_type, resource_pattern, permission) "
                    "VALUES (:r, :t, :p, :m)", r=role_id, t=kind, p=pattern, m=perm)  # fmt: skip


def _queries(rng: random.Random, data: dict[str, Any], ws: str) -> list[tuple[str, str, dict[str, Any]]]:
    out: list[tuple[str, str, dict[str, Any]]] = []
    for _ in range(2):
        body: dict[str, Any] = {"max_results": rng.choice([1, 2, 3, 5, 8, 50, 1000])}
        body["view_type"] = rng.choice(["ACTIVE_ONLY", "ACTIVE_ONLY", "DELETED_ONLY", "ALL"])
        order = rng.choice([[], ["name ASC"], ["name DESC"], ["creation_time DESC"],
                            ["last_update_time ASC", "name DESC"], ["experiment_id DESC"]])  # fmt: skip
        if order:
            body["order_by"] = order
        flt = rng.choice(["", "", "name LIKE 'exp-0%'", "tags.team = 'a'", "name != 'exp-03-default-a'"])
        if flt:
            body["filter"] = flt
        out.append(("experiments", "/api/2.0/mlflow/experiments/search", body))
    body = {"max_results": rng.choice([1, 2, 3, 5, 100])}
    flt = rng.choice(["", "", "name LIKE 'rm-0%'", "tags.`mlflow.prompt.is_prompt` = 'true'", "tags.team = 'b'"])
    if flt:
        body["filter"] = flt
    order = rng.choice([[], ["name DESC"], ["last_updated_timestamp DESC"]])
    if order:
        body["order_by"] = order
    out.append(("registered_models", "/api/2.0/mlflow/registered-models/search", body))  # GET
    exps = data["logged"].get(ws) or data["experiments"][ws][:1]
    body = {"experiment_ids": rng.sample(exps, min(len(exps), rng.randint(1, 4))),
            "max_results": rng.choice([1, 2, 3, 5, 100])}  # fmt: skip
    if rng.random() < 0.5:
        body["order_by"] = [{"field_name": "creation_time", "ascending": rng.random() < 0.5}]
    out.append(("logged_models", "/api/2.0/mlflow/logged-models/search", body))
    return out


_ROWS = {"experiments": "experiments", "registered_models": "registered_models", "logged_models": "models"}


def _page_through(app: Any, user: str, kind: str, path: str, body: dict[str, Any]) -> list[Any]:
    pages: list[Any] = []
    token = None
    for _ in range(400):
        request = dict(body)
        if token:
            request["page_token"] = token
        method = "GET" if kind == "registered_models" else "POST"
        status, payload = app.call(user, method, path, request)
        if status != 200:
            pages.append({"status": status})
            return pages
        pages.append(payload.get(_ROWS[kind], []))
        token = payload.get("next_page_token")
        if not token:
            return pages
    raise AssertionError(f"{path}: more than 400 pages")


class _MlflowAlone:
    """Takes the speed-ups out for the duration (the SQL filter and the cache)."""

    def __init__(self, app: Any) -> None:
        from mlflow_descope_auth import search

        self._search = search
        self._store = app.auth.store
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> None:
        self._saved["clause"] = self._search.Pushdown.clause_for_request
        self._search.Pushdown.clause_for_request = lambda self, kind: None  # type: ignore[method-assign]
        for name in ("get_user", "list_grants"):
            current = self._store.__dict__.get(name)
            if current is not None and hasattr(current, "__wrapped__"):
                self._saved[name] = current
                setattr(self._store, name, current.__wrapped__)

    def __exit__(self, *exc: object) -> None:
        self._search.Pushdown.clause_for_request = self._saved.pop("clause")  # type: ignore[method-assign]
        for name, fn in self._saved.items():
            setattr(self._store, name, fn)
        self._saved.clear()


def scenario_equivalence(app: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    import sqlalchemy

    rng = random.Random(cfg.get("seed", 1))
    cases = int(cfg.get("cases", 50))
    engine = app.auth.store.engine

    workspaces = ["default"]
    if app.workspaces:
        for ws in ("ws-a", "ws-b"):
            app.ok("admin", "POST", "/api/3.0/mlflow/workspaces", {"name": ws})
        workspaces += ["ws-a", "ws-b"]
    user_ids = {u: app.create_user(u) for u in _USERS}
    data = _build_data(app, rng, workspaces)
    base_config = app.auth.auth_config
    mismatches: list[dict[str, Any]] = []
    stats = {"searches": 0, "pages": 0, "rows": 0, "trailing_empty_page": 0, "errors": 0, "pushed": 0}
    pushed_before = _pushdown_count(app)
    for case in range(cases):
        default = rng.choice(_DEFAULTS)
        app.auth.auth_config = base_config._replace(
            default_permission=default,
            grant_default_workspace_access=app.workspaces and rng.random() < 0.3,
        )
        with engine.begin() as conn:  # one transaction: the triggers bump once per row

            def sql(statement: str, _conn: Any = conn, **params: Any) -> list[Any]:
                result = _conn.execute(sqlalchemy.text(statement), params)
                return list(result) if result.returns_rows else []

            _random_grants(sql, rng, data, workspaces, user_ids)
        user = rng.choice(_USERS)
        app.workspace = rng.choice(workspaces)
        for kind, path, body in _queries(rng, data, app.workspace):
            fast = _page_through(app, user, kind, path, body)
            with _MlflowAlone(app):
                alone = _page_through(app, user, kind, path, body)
            stats["searches"] += 1
            stats["pages"] += len(fast)
            stats["rows"] += sum(len(p) for p in fast if isinstance(p, list))
            stats["errors"] += sum(1 for p in fast if isinstance(p, dict))
            if alone == fast + [[]] and fast:
                # MLflow hands out a token for an empty last page when the readable rows run
                # out exactly at a page boundary; the SQL filter knows there are no more.
                stats["trailing_empty_page"] += 1
                continue
            if alone != fast:
                mismatches.append({
                    "case": case, "user": user, "workspace": app.workspace, "default": default,
                    "kind": kind, "body": body, "fast": _ids(fast), "mlflow": _ids(alone),
                })  # fmt: skip
    stats["pushed"] = _pushdown_count(app) - pushed_before
    app.auth.auth_config = base_config
    return {"status": app.status.enabled, "stats": stats, "mismatches": mismatches[:10], "mismatch_count": len(mismatches)}


def _pushdown_count(app: Any) -> int:
    from mlflow_descope_auth import search

    return search.STATS["pushed"]


def _ids(pages: list[Any]) -> list[Any]:
    out = []
    for page in pages:
        if isinstance(page, dict):
            out.append(page)
            continue
        out.append([r.get("experiment_id") or r.get("name") or r.get("info", {}).get("model_id") for r in page])
    return out
