"""Per-worker caches of MLflow's authorization lookups, coherent through the change counter.

``Memo`` remembers results of read-only auth-store calls (the user row, the caller's grants).
Every request reads the counter once (``generation.Counter.read``, kept in the WSGI environ for
the rest of that request); entries filled under another counter value are never returned. The
counter is read before anything is loaded, so an entry is never older than the counter value it
is filed under. No request context, or a counter that cannot be trusted: the call goes to the
store as if there were no cache.

``RunExperiments`` maps a run to its experiment, which never changes; it needs no counter.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from mlflow_descope_auth.generation import Counter

T = TypeVar("T")
_ENVIRON_KEY = "mlflow_descope_auth.generation"
_MISSING = object()


class _LRU:
    def __init__(self, maxsize: int) -> None:
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._maxsize = maxsize

    def get(self, key: Hashable) -> Any:
        value = self._data.get(key, _MISSING)
        if value is not _MISSING:
            self._data.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._maxsize:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


def request_generation(counter: Counter) -> int | None:
    """The counter as read at this request's first cached lookup; None outside a request."""
    from flask import has_request_context, request

    if not has_request_context():
        return None
    environ = request.environ
    value = environ.get(_ENVIRON_KEY, _MISSING)
    if value is _MISSING:
        value = counter.read()
        environ[_ENVIRON_KEY] = value
    return value  # type: ignore[no-any-return]


class Memo:
    """Results of pure auth-store reads, valid for one counter value."""

    def __init__(
        self,
        counter: Counter,
        maxsize: int = 10_000,
        generation: Callable[[Counter], int | None] = request_generation,
    ) -> None:
        self._counter = counter
        self._generation = generation
        self._lock = threading.Lock()
        self._gen: int | None = None
        self._lru = _LRU(maxsize)
        self.hits = 0
        self.misses = 0

    def lookup(self, key: Hashable, load: Callable[[], T], fresh: Callable[[T], T]) -> T:
        """``load()``'s result for ``key``; ``fresh`` copies a cached value before returning it.

        Exceptions from ``load`` are not cached.
        """
        gen = self._generation(self._counter)
        if gen is None:
            return load()
        with self._lock:
            if self._gen != gen:
                # Any other value, older or newer (an auth database restored from a backup),
                # invalidates everything filled so far.
                self._lru.clear()
                self._gen = gen
            value = self._lru.get(key)
            if value is not _MISSING:
                self.hits += 1
                return fresh(value)
            self.misses += 1
        value = load()
        with self._lock:
            if self._gen == gen:
                self._lru.put(key, value)
        return fresh(value)

    def __len__(self) -> int:
        return len(self._lru)


def wrap_store(store: Any, memo: Memo) -> None:
    """Route the auth store's hot read calls through ``memo`` (instance attributes, so the
    class and every other instance stay as they are)."""
    get_user = store.get_user
    list_grants = store.list_grants

    def cached_get_user(username: str) -> Any:
        return memo.lookup(("user", username), lambda: get_user(username), copy.copy)

    def cached_list_grants(user_id: int, workspace: str, resource_types: Any) -> Any:
        types = frozenset(resource_types)
        return memo.lookup(
            ("grants", user_id, workspace, types),
            lambda: list_grants(user_id, workspace, types),
            list,
        )

    cached_get_user.__wrapped__ = get_user  # type: ignore[attr-defined]
    cached_list_grants.__wrapped__ = list_grants  # type: ignore[attr-defined]
    store.get_user = cached_get_user
    store.list_grants = cached_list_grants


class RunExperiments:
    """run id → experiment id, per worker; only runs that were found are remembered."""

    def __init__(self, maxsize: int = 20_000) -> None:
        self._lock = threading.Lock()
        self._lru = _LRU(maxsize)

    def experiment_of(self, scope: str | None, run_id: str, fetch: Callable[[], Any]) -> str | None:
        key = (scope, run_id)
        with self._lock:
            hit = self._lru.get(key)
        if hit is not _MISSING:
            return hit  # type: ignore[no-any-return]
        run = fetch()
        if run is None:
            return None
        experiment_id: str = run.info.experiment_id
        with self._lock:
            self._lru.put(key, experiment_id)
        return experiment_id


def wrap_run_requirement(auth: Any, runs: RunExperiments) -> None:
    """Replace ``mlflow.server.auth._run_requirement``, which loads the whole run (params,
    metrics, tags, inputs: eight statements on SQLite) only to read its experiment id.

    The requirements built are the original's, line for line (speedups.py checks the source of
    the function it replaces before calling this).
    """
    from mlflow.environment_variables import MLFLOW_ENABLE_WORKSPACES
    from mlflow.utils import workspace_context

    requirement = auth.Requirement
    experiment_type = auth.RESOURCE_TYPE_EXPERIMENT
    run_type = auth.RESOURCE_TYPE_RUN

    def _run_requirement(run_id: str, action: str) -> Any:
        # The tracking store only finds runs of the request's workspace, so that is part of
        # the key: a run id seen in one workspace says nothing about another.
        scope = workspace_context.get_request_workspace() if MLFLOW_ENABLE_WORKSPACES.get() else None
        experiment_id = runs.experiment_of(
            scope, run_id, lambda: auth._fetch_or_none(auth._get_tracking_store().get_run, run_id)
        )
        if experiment_id is None:
            return None
        experiment = (experiment_type, experiment_id)
        return experiment, [
            requirement(experiment_type, experiment_id, "read"),
            requirement(run_type, "*", action, fallback_if_no_grant=(experiment,)),
        ]

    _run_requirement.__wrapped__ = auth._run_requirement  # type: ignore[attr-defined]
    auth._run_requirement = _run_requirement
