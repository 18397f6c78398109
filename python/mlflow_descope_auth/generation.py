"""A change counter on MLflow's auth database, bumped by every writer of the auth tables.

Database triggers on the auth tables increment the one row of ``mlflow_descope_auth_generation``
in the same transaction as the change, so the counter and the change become visible together,
whoever wrote them: MLflow's admin API in any worker of any server sharing the database, the
``mlflow`` CLI, or someone typing SQL. A worker reads the counter once per request; a cache
filled under another value is dropped (``cache.py``).

The per-request query also counts our triggers: a migration that recreates a table on SQLite,
or an operator dropping or disabling a trigger, makes the count wrong and the caches are
bypassed rather than silently going stale. Every install (each worker's start, and a
reinstall after such a loss) bumps the counter, because writes made while a trigger was missing
went uncounted.

SQLite: three row triggers per table. PostgreSQL: a deferred constraint trigger per table (the
bump runs at commit, after every other statement of the transaction, so it cannot take part in
a lock-order deadlock) plus a statement trigger for TRUNCATE. A session with
``session_replication_role = replica`` skips PostgreSQL triggers; such writers must restart
MLflow or bump the counter themselves (docs/mlflow-plugin.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_logger = logging.getLogger(__name__)

TABLE = "mlflow_descope_auth_generation"
PREFIX = "mlflow_descope_auth_"
_PG_FUNCTION = "mlflow_descope_auth_bump"
_PG_LOCK_KEY = 0x6D6C66646167656E  # "mlfdagen": serializes installs of concurrent workers

#: Tables of MLflow's auth schema, current and retained legacy ones, across MLflow 3.x.
#: Only those present in the database get triggers; the tracking tables never do (the
#: auth and tracking databases may be the same database).
AUTH_TABLES = (
    "users",
    "roles",
    "role_permissions",
    "user_role_assignments",
    "experiment_permissions",
    "registered_model_permissions",
    "scorer_permissions",
    "gateway_secret_permissions",
    "gateway_endpoint_permissions",
    "gateway_model_definition_permissions",
    "workspace_permissions",
)


class GenerationError(Exception):
    """The counter cannot be installed on this database."""


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise GenerationError(f"unexpected table name {name!r}")
    return name


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str


def triggers_for(dialect: str, tables: Iterable[str]) -> list[Trigger]:
    out: list[Trigger] = []
    for table in tables:
        suffixes = ("ins", "upd", "del") if dialect == "sqlite" else ("row", "trunc")
        out.extend(Trigger(f"{PREFIX}{table}_{s}", table) for s in suffixes)
    return out


def _sqlite_install(conn: Any, tables: Sequence[str]) -> None:
    conn.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {TABLE} "
        "(id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL)"
    )
    conn.exec_driver_sql(f"INSERT OR IGNORE INTO {TABLE} (id, value) VALUES (1, 0)")
    bump = f"UPDATE {TABLE} SET value = value + 1 WHERE id = 1;"
    for table in tables:
        for suffix, event in (("ins", "INSERT"), ("upd", "UPDATE"), ("del", "DELETE")):
            conn.exec_driver_sql(
                f"CREATE TRIGGER IF NOT EXISTS {PREFIX}{table}_{suffix} "
                f"AFTER {event} ON {table} FOR EACH ROW BEGIN {bump} END"
            )


def _pg_install(conn: Any, tables: Sequence[str]) -> None:
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
    schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
    if not schema:
        raise GenerationError("no current schema")
    qualified = '"' + str(schema).replace('"', '""') + '".' + TABLE
    conn.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {qualified} "
        "(id INTEGER PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL)"
    )
    conn.exec_driver_sql(f"INSERT INTO {qualified} (id, value) VALUES (1, 0) ON CONFLICT DO NOTHING")
    # SECURITY DEFINER with a fixed search_path: any writer of the auth tables can bump, and
    # the function always finds the counter whatever the writer's search_path is.
    conn.exec_driver_sql(
        f"CREATE OR REPLACE FUNCTION {_PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql "
        "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ BEGIN "
        f"UPDATE {qualified} SET value = value + 1 WHERE id = 1; RETURN NULL; END $$"
    )
    for table in tables:
        existing = {
            row[0]
            for row in conn.exec_driver_sql(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(%(t)s)", {"t": table}
            )
        }
        if f"{PREFIX}{table}_row" not in existing:
            conn.exec_driver_sql(
                f"CREATE CONSTRAINT TRIGGER {PREFIX}{table}_row AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                f"EXECUTE FUNCTION {_PG_FUNCTION}()"
            )
        if f"{PREFIX}{table}_trunc" not in existing:
            conn.exec_driver_sql(
                f"CREATE TRIGGER {PREFIX}{table}_trunc AFTER TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION}()"
            )


def check_query(dialect: str, triggers: Sequence[Trigger]) -> str:
    """One statement: the counter, and how many of our triggers are in place and enabled."""
    if dialect == "sqlite":
        wanted = ", ".join(f"'{t.name}/{t.table}'" for t in triggers)
        present = (
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
            f"AND name || '/' || tbl_name IN ({wanted})"
        )
    else:
        wanted = " OR ".join(
            f"(t.tgname = '{t.name}' AND t.tgrelid = to_regclass('{t.table}'))" for t in triggers
        )
        present = f"SELECT count(*) FROM pg_trigger t WHERE t.tgenabled IN ('O', 'A') AND ({wanted})"
    return f"SELECT g.value, ({present}) FROM {TABLE} g WHERE g.id = 1"


class Counter:
    """The auth database's change counter, installed and read for one MLflow worker.

    ``engine`` is the auth store's primary engine (triggers are created there); ``read_engine``
    is where the store reads from (a read replica, if configured), so the counter and the rows
    it guards come from the same database.
    """

    def __init__(self, engine: Any, read_engine: Any | None = None, reinstall_every: float = 30.0):
        import sqlalchemy

        self._engine = engine
        self.dialect: str = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise GenerationError(f"unsupported auth database {self.dialect!r}")
        url = (read_engine or engine).url
        if self.dialect == "sqlite" and url.database in (None, "", ":memory:"):
            raise GenerationError("an in-memory auth database is private to one connection")
        # Its own pool in autocommit, used through the DBAPI: the check is one statement (not
        # BEGIN, SELECT, ROLLBACK on PostgreSQL), with no per-checkout isolation changes.
        pool = {"pool_size": 2, "max_overflow": 30} if self.dialect == "postgresql" else {}
        self._check_engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", **pool)
        self._reinstall_every = reinstall_every
        self._last_install = 0.0
        self._lock = threading.Lock()
        self._warned = False
        self.tables: list[str] = []
        self._query = ""
        self._expected = 0

    def install(self) -> None:
        """Create the counter and the triggers if missing. Raises GenerationError."""
        import sqlalchemy

        try:
            present = set(sqlalchemy.inspect(self._engine).get_table_names())
            tables = [_ident(t) for t in AUTH_TABLES if t in present]
            if "users" not in tables:
                raise GenerationError("no users table in the auth database")
            with self._engine.begin() as conn:
                if self.dialect == "sqlite":
                    _sqlite_install(conn, tables)
                else:
                    _pg_install(conn, tables)
                # Writes made while a trigger was missing were not counted: every cache
                # filled before this install, in any worker, must go.
                conn.exec_driver_sql(f"UPDATE {TABLE} SET value = value + 1 WHERE id = 1")
        except GenerationError:
            raise
        except Exception as e:  # any database refusal: no counter, no cache
            raise GenerationError(f"cannot install the change counter: {e}") from e
        triggers = triggers_for(self.dialect, tables)
        self.tables = tables
        self._query = check_query(self.dialect, triggers)
        self._expected = len(triggers)
        self._last_install = time.monotonic()

    def read(self) -> int | None:
        """The counter, or None when it cannot be trusted (caches must then be bypassed)."""
        try:
            row = self._fetch()
        except Exception as e:
            self._warn(f"cannot read the change counter ({e}); authorization caches bypassed")
            self._maybe_reinstall()
            return None
        if row is None or int(row[1]) != self._expected:
            self._warn(
                "the change counter's triggers are missing or disabled; authorization caches "
                "bypassed until they are reinstalled"
            )
            self._maybe_reinstall()
            return None
        if self._warned:
            _logger.info("mlflow-descope-auth: change counter back; authorization caches in use")
            self._warned = False
        return int(row[0])

    def _fetch(self) -> Any:
        conn = self._check_engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(self._query)
                return cursor.fetchone()
            finally:
                cursor.close()
        finally:
            conn.close()

    def _warn(self, message: str) -> None:
        if not self._warned:
            _logger.error("mlflow-descope-auth: %s", message)
            self._warned = True

    def _maybe_reinstall(self) -> None:
        now = time.monotonic()
        if not self._lock.acquire(blocking=False):
            return
        try:
            if now - self._last_install < self._reinstall_every:
                return
            self._last_install = now
            try:
                self.install()
            except GenerationError as e:
                _logger.error("mlflow-descope-auth: %s", e)
        finally:
            self._lock.release()
