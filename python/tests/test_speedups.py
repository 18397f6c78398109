"""The authorization cache and the SQL search filter, against MLflow's real auth app.

Each scenario runs in its own interpreter (inproc_app.py). Where the installed MLflow is not
one the speed-ups were checked against (the CI matrix runs older releases), the tests check
that they stayed off and that MLflow still authorizes correctly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import inproc_app

pytest.importorskip("mlflow.server")


@pytest.fixture
def fast_tmp() -> Iterator[Path]:
    """A directory on tmpfs when there is one: SQLite commits there cost no fsync."""
    root = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="plugin-test-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _postgres(config: dict[str, Any]) -> dict[str, Any]:
    dsn = os.environ.get("AUDIT_TEST_POSTGRES_DSN", "")
    if not dsn:
        if os.environ.get("MDA_REQUIRE_ALL"):
            pytest.fail("MDA_REQUIRE_ALL is set: AUDIT_TEST_POSTGRES_DSN is not set", pytrace=False)
        pytest.skip("AUDIT_TEST_POSTGRES_DSN is not set")
    import psycopg

    base = dsn.split("?", 1)[0].rsplit("/", 1)[0].replace("postgres://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for kind in ("tracking", "auth"):
            name = f"plugin_{kind}_{uuid.uuid4().hex[:10]}"
            conn.execute(f"CREATE DATABASE {name}")
            config[f"{kind}_uri"] = f"{base}/{name}"
    return config


def _db(config: dict[str, Any], db: str) -> dict[str, Any]:
    return _postgres(config) if db == "postgresql" else config


_runs: dict[str, Any] = {}


def _basics(tmp: Path, speedups: str = "on") -> dict[str, Any]:
    """Authorization basics, plus statements per request, with the speed-ups on or off."""
    if speedups not in _runs:
        result = inproc_app.run({"scenario": "basics", "tmp": str(tmp / speedups), "speedups": speedups,
                                 "count": True})  # fmt: skip
        assert result["codes"] == [403, 200, 200, 403], result
        assert result["listed"] == [result["exp"]], result
        _runs[speedups] = result
    return _runs[speedups]  # type: ignore[no-any-return]


def _recognised(tmp: Path) -> bool:
    status = _basics(tmp)["status"]
    return bool(status["cache"] and status["search"])


def test_speedups_on_for_the_pinned_mlflow(fast_tmp: Path) -> None:
    import mlflow

    on = _recognised(fast_tmp)
    pinned = Path(__file__).resolve().parents[1] / "requirements.txt"
    if f"mlflow[auth]=={mlflow.__version__}" in pinned.read_text():
        assert on, _runs["on"]["reasons"]


def test_changed_mlflow_internals_turn_the_cache_off(fast_tmp: Path) -> None:
    if not _recognised(fast_tmp):
        pytest.skip("speed-ups not available on this MLflow anyway")
    result = inproc_app.run({"scenario": "basics", "tmp": str(fast_tmp),
                             "tamper": "mlflow.server.auth:_run_requirement"})  # fmt: skip
    assert result["status"]["cache"] is False
    assert "mlflow.server.auth:_run_requirement" in result["reasons"]["cache"]
    assert result["codes"] == [403, 200, 200, 403]


def test_switch_turns_the_speedups_off(fast_tmp: Path) -> None:
    result = _basics(fast_tmp, "off")  # also checks MLflow still authorizes right
    assert result["status"] == {"cache": False, "search": False}
    assert "MLFLOW_DESCOPE_AUTH_SPEEDUPS" in result["reasons"]["cache"]


def test_statements_per_request(fast_tmp: Path) -> None:
    """With the cache, a read or write costs the auth database one statement (the counter,
    read over its own connection) instead of 12-16, and a write no longer loads the whole run
    to learn its experiment."""
    if not _recognised(fast_tmp):
        pytest.skip("speed-ups not available on this MLflow")
    on, off = _basics(fast_tmp)["statements"], _basics(fast_tmp, "off")["statements"]
    for request in ("read", "write", "get_run", "search"):
        assert on[request]["auth"] == [], (request, on[request]["auth"])
        assert on[request]["counter_reads"] == 1, request
        assert len(off[request]["auth"]) >= 8, (request, off[request]["auth"])
    assert len(on["read"]["tracking"]) == len(off["read"]["tracking"])
    assert len(on["write"]["tracking"]) <= len(off["write"]["tracking"]) - 8


@pytest.mark.parametrize(
    ("db", "workspaces"), [("sqlite", False), ("sqlite", True), ("postgresql", False)]
)
def test_changes_apply_to_the_next_request(fast_tmp: Path, db: str, workspaces: bool) -> None:
    """Admin API, roles, SQL typed into the auth database, a trigger dropped behind our back."""
    if not _recognised(fast_tmp):
        pytest.skip("speed-ups not available on this MLflow")
    config = _db({"scenario": "coherence", "tmp": str(fast_tmp / "c"), "workspaces": workspaces}, db)
    result = inproc_app.run(config)
    wrong = [s for s in result["steps"] if s["want"] != s["got"]]
    assert not wrong, wrong
    assert result["hits"] > 10  # the cache did serve (else this test proves nothing)
    assert result["reinstalled"] is True


CASES = int(os.environ.get("MDA_SEARCH_EQUIVALENCE_CASES", "60"))


@pytest.mark.parametrize(
    ("db", "workspaces", "seed", "cases"),
    [("sqlite", False, 101, CASES), ("sqlite", True, 202, CASES), ("postgresql", False, 303, max(CASES // 3, 1))],
)
def test_search_matches_mlflow_filter(fast_tmp: Path, db: str, workspaces: bool, seed: int, cases: int) -> None:
    """Randomized, seeded (MDA_SEARCH_EQUIVALENCE_CASES sets how many cases): every page of
    every search equals MLflow's own filter's. See equivalence.py."""
    if not _recognised(fast_tmp):
        pytest.skip("speed-ups not available on this MLflow")
    config = _db({"scenario": "equivalence", "tmp": str(fast_tmp / "e"), "workspaces": workspaces,
                  "seed": seed, "cases": cases}, db)  # fmt: skip
    result = inproc_app.run(config, timeout=1800)
    assert result["mismatch_count"] == 0, result["mismatches"]
    stats = result["stats"]
    assert stats["rows"] > 0 and stats["pushed"] > 0, stats  # not vacuous
    assert stats["errors"] == 0, stats
