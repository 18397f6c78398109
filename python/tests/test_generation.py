"""The change counter on a bare SQLite database, the memo, and the readable-set helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy
from flask import Flask

from mlflow_descope_auth import search, speedups
from mlflow_descope_auth.cache import Memo
from mlflow_descope_auth.generation import Counter, GenerationError


@pytest.fixture
def engine(tmp_path: Path) -> sqlalchemy.Engine:
    eng = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'auth.db'}")
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT, is_admin INTEGER)")
        conn.exec_driver_sql("CREATE TABLE role_permissions (id INTEGER PRIMARY KEY, permission TEXT)")
        conn.exec_driver_sql("CREATE TABLE runs (id INTEGER PRIMARY KEY)")  # not an auth table
    return eng


def _exec(engine: sqlalchemy.Engine, sql: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)


def test_every_write_to_an_auth_table_bumps_the_counter(engine: sqlalchemy.Engine) -> None:
    counter = Counter(engine)
    counter.install()
    assert counter.tables == ["users", "role_permissions"]
    start = counter.read()
    assert start is not None
    seen = [start]
    for sql in (
        "INSERT INTO users (username, is_admin) VALUES ('a', 0)",
        "UPDATE users SET is_admin = 1",
        "INSERT INTO role_permissions (permission) VALUES ('READ')",
        "DELETE FROM role_permissions",
        "DELETE FROM users",  # no WHERE: SQLite must not take its truncate shortcut
    ):
        _exec(engine, sql)
        seen.append(counter.read())
    assert seen == list(range(start, start + 6)), seen
    _exec(engine, "INSERT INTO runs DEFAULT VALUES")
    assert counter.read() == start + 5  # tracking tables are not counted


def test_install_is_idempotent_and_bumps(engine: sqlalchemy.Engine) -> None:
    a, b = Counter(engine), Counter(engine)
    a.install()
    first = a.read()
    b.install()  # another worker starting
    assert b.read() == a.read() == first + 1


def test_missing_trigger_means_no_counter_until_reinstalled(engine: sqlalchemy.Engine) -> None:
    counter = Counter(engine, reinstall_every=3600)
    counter.install()
    before = counter.read()
    _exec(engine, "DROP TRIGGER mlflow_descope_auth_users_upd")
    _exec(engine, "UPDATE users SET is_admin = 1")  # not counted
    assert counter.read() is None  # caches must be bypassed
    counter._reinstall_every = 0
    assert counter.read() is None  # this read reinstalls...
    after = counter.read()  # ...and the counter moved past every cache filled before
    assert after is not None and after > before


def test_renamed_table_is_noticed(engine: sqlalchemy.Engine) -> None:
    counter = Counter(engine, reinstall_every=3600)
    counter.install()
    _exec(engine, "ALTER TABLE role_permissions RENAME TO role_permissions_old")
    _exec(engine, "CREATE TABLE role_permissions (id INTEGER PRIMARY KEY, permission TEXT)")
    assert counter.read() is None


def test_unsupported_database_is_refused(tmp_path: Path) -> None:
    eng = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE roles (id INTEGER)")
    with pytest.raises(GenerationError, match="no users table"):
        Counter(eng).install()
    with pytest.raises(GenerationError, match="in-memory"):
        Counter(sqlalchemy.create_engine("sqlite://"))


def test_memo_serves_only_its_generation(engine: sqlalchemy.Engine) -> None:
    gen = {"value": 1}
    memo = Memo(Counter(engine), generation=lambda _c: gen["value"])
    loads = []

    def load(v: str) -> str:
        loads.append(v)
        return v

    assert memo.lookup("k", lambda: load("a"), str) == "a"
    assert memo.lookup("k", lambda: load("b"), str) == "a"  # cached
    gen["value"] = 2
    assert memo.lookup("k", lambda: load("c"), str) == "c"  # new generation: reloaded
    gen["value"] = None  # counter unusable: no cache at all
    assert memo.lookup("k", lambda: load("d"), str) == "d"
    assert memo.lookup("k", lambda: load("e"), str) == "e"
    assert loads == ["a", "c", "d", "e"]


def test_memo_does_not_cache_errors(engine: sqlalchemy.Engine) -> None:
    memo = Memo(Counter(engine), generation=lambda _c: 1)

    def fail() -> str:
        raise KeyError("x")

    with pytest.raises(KeyError):
        memo.lookup("k", fail, str)
    assert memo.lookup("k", lambda: "ok", str) == "ok"


def test_request_generation_is_read_once_per_request(engine: sqlalchemy.Engine) -> None:
    counter = Counter(engine)
    counter.install()
    memo = Memo(counter)
    app = Flask(__name__)
    with app.test_request_context("/"):
        memo.lookup("k", lambda: "v1", str)
        _exec(engine, "INSERT INTO users (username, is_admin) VALUES ('a', 0)")
        # same request: the counter read at its start still holds
        assert memo.lookup("k", lambda: "v2", str) == "v1"
    with app.test_request_context("/"):
        assert memo.lookup("k", lambda: "v3", str) == "v3"
    assert memo.lookup("k", lambda: "v4", str) == "v4"  # no request: no cache


@pytest.mark.parametrize(
    ("predicate", "named", "default", "exceptions"),
    [
        (lambda i: i in {"1", "2"}, {"1", "2", "3"}, False, {"1", "2"}),
        (lambda i: i != "3", {"1", "2", "3"}, True, {"3"}),
        (lambda i: False, {"1"}, False, set()),
        (lambda i: True, set(), True, set()),
    ],
)
def test_readable_sets(predicate, named, default, exceptions) -> None:  # noqa: ANN001
    got = search.readable(predicate, named)
    assert got.default is default and got.exceptions == frozenset(exceptions)


@pytest.mark.parametrize(
    ("value", "want"), [("12", 12), ("0", 0), ("07", None), (" 7", None), ("+7", None), ("x", None), ("-1", -1)]
)
def test_canonical_int(value: str, want: int | None) -> None:
    assert search.canonical_int(value) == want


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("", {"cache", "search"}), ("on", {"cache", "search"}), ("off", set()), ("OFF", set()),
        ("cache", {"cache"}), ("search", {"search"}), ("cache, search", {"cache", "search"}),
    ],
)  # fmt: skip
def test_switch(raw: str, want: set[str]) -> None:
    assert speedups.check_switch({speedups.SWITCH_ENV: raw}) == frozenset(want)


@pytest.mark.parametrize("raw", ["yes", "cache,speed", ","])
def test_switch_rejects_unknown_values(raw: str) -> None:
    with pytest.raises(speedups.SwitchError):
        speedups.check_switch({speedups.SWITCH_ENV: raw})
