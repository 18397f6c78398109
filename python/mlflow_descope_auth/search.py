"""Searches filtered in SQL instead of after the fact.

MLflow's RBAC answers a non-admin's search of experiments, registered models (and prompts,
which are registered models with a tag) and logged models by running the store's query, then
dropping the rows the caller may not read and querying page after page again until the page is
full (``filter_search_*`` after-request handlers): with 5,000 experiments of which 50 are
readable, five pages of 1,000 rows go through the ORM for one answer.

Here the store's own query gets one more WHERE clause, so it returns readable rows only. The
clause comes from MLflow's own row predicate (``_role_based_read_predicate``, the function its
filter calls): a grant names one id or ``"*"`` (``permissions.matches``), so every id no grant
names is decided alike. The predicate is asked once about an id no grant names (the default)
and once per id a grant names; the ids decided against the default become ``id IN (…)`` (the
default denies: an allow-list) or ``id NOT IN (…)`` (the default reads, e.g.
``default_permission = READ`` or a wildcard grant: a deny-list).

MLflow's after-request filter still runs on the answer, with MLflow's predicate: it drops
nothing (every row is readable) and, since the page is then full or the last one, fetches no
further page. So a row the clause let through wrongly could never be shown, and a
mistake on the other side would only shorten a page, which the randomized equivalence test
(python/tests/equivalence.py) would catch.

Pages are the same as MLflow's: the readable rows in the store's order, ``max_results`` at a
time. Page tokens count offsets among readable rows instead of among all rows, and, unlike
MLflow, no token is handed out for an empty last page.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_logger = logging.getLogger(__name__)

#: Larger lists of named ids are left to MLflow's own filter (bound-parameter limits).
MAX_LISTED_IDS = 10_000
_UNNAMED = "\x00mlflow-descope-auth: an id no grant names"
_ENVIRON_KEY = "mlflow_descope_auth.search."

#: The clause for the store call in progress: (kind, clause).
_CLAUSE: contextvars.ContextVar[tuple[str, Any] | None] = contextvars.ContextVar(
    "mlflow_descope_auth_search_clause", default=None
)

#: Store calls that got the extra clause, in this process (tests and debugging).
STATS = {"pushed": 0}

EXPERIMENTS = "experiments"
REGISTERED_MODELS = "registered_models"
LOGGED_MODELS = "logged_models"


@dataclass(frozen=True)
class Readable:
    """The ids a predicate accepts: all but ``exceptions`` (default True), or only them."""

    default: bool
    exceptions: frozenset[str]


def readable(predicate: Callable[[str], bool], named: Iterable[str]) -> Readable:
    """Ask ``predicate`` about an id no grant names and about every id in ``named``."""
    named = set(named)
    unnamed = _UNNAMED
    while unnamed in named:
        unnamed += "\x00"
    default = bool(predicate(unnamed))
    return Readable(default, frozenset(i for i in named if bool(predicate(i)) != default))


def canonical_int(value: str) -> int | None:
    """``value`` as an integer id if it is how MLflow prints one (``str(int)``), else None:
    a pattern like ``"07"`` can equal no experiment id and so names no row."""
    try:
        number = int(value)
    except ValueError:
        return None
    return number if str(number) == value else None


def clause(column: Any, allowed: Readable, convert: Callable[[str], Any] = str) -> Any:
    import sqlalchemy

    ids = sorted({c for c in (convert(i) for i in allowed.exceptions) if c is not None})
    if allowed.default:
        return column.not_in(ids) if ids else sqlalchemy.true()
    return column.in_(ids) if ids else sqlalchemy.false()


class TooMany(Exception):
    """More named ids than MAX_LISTED_IDS."""


class Pushdown:
    """Per-request readable-set clauses, computed with MLflow's own predicates."""

    def __init__(self, auth: Any) -> None:
        self._auth = auth
        self._filters = {
            EXPERIMENTS: auth.filter_search_experiments,
            REGISTERED_MODELS: auth.filter_search_registered_models,
            LOGGED_MODELS: auth.filter_search_logged_models,
        }
        self._warned = False

    def clause_for_request(self, kind: str) -> Any | None:
        """The clause for the current request's search of ``kind``, or None for MLflow's way.

        Only where MLflow's after-request filter for ``kind`` is about to run on this very
        response (so it still verifies every row), and only for a non-admin caller (MLflow does
        not filter for admins).
        """
        from flask import has_request_context, request

        if not has_request_context():
            return None
        handler = self._auth.AFTER_REQUEST_HANDLERS.get((request.path, request.method))
        if handler is not self._filters[kind]:
            return None
        key = _ENVIRON_KEY + kind
        if key in request.environ:
            return request.environ[key]
        try:
            built = self._build(kind)
        except TooMany:
            built = None
        except Exception:  # any surprise: MLflow's own filter, which is always right
            if not self._warned:
                _logger.exception("mlflow-descope-auth: search filter not pushed into SQL")
                self._warned = True
            built = None
        request.environ[key] = built
        return built

    def _named(self, user_id: int, workspace: str | None, resource_type: str) -> set[str]:
        if workspace is None:
            return set()
        grants = self._auth.store.list_grants(user_id, workspace, {resource_type})
        named = {
            g.resource_pattern
            for g in grants
            if g.resource_type == resource_type and g.resource_pattern != "*"
        }
        if len(named) > MAX_LISTED_IDS:
            raise TooMany()
        return named

    def _build(self, kind: str) -> Any | None:
        from werkzeug.datastructures import Authorization

        auth = self._auth
        authorization = auth.authenticate_request()
        if not isinstance(authorization, Authorization):
            return None
        if auth.sender_is_admin():
            return None
        username = authorization.username
        user_id = auth.store.get_user(username).id
        # The workspace MLflow's predicate resolves its grants in (retention_gate's anchor).
        workspace = auth.get_anchor_workspace(auth.RESOURCE_TYPE_WORKSPACE, "*")

        def allowed(resource_type: str, also_require: Any = ()) -> Readable:
            predicate = auth._role_based_read_predicate(username, resource_type, also_require)
            return readable(predicate, self._named(user_id, workspace, resource_type))

        if kind == EXPERIMENTS:
            from mlflow.store.tracking.dbmodels.models import SqlExperiment

            return clause(SqlExperiment.experiment_id, allowed("experiment"), canonical_int)
        if kind == LOGGED_MODELS:
            from mlflow.store.tracking.dbmodels.models import SqlLoggedModel

            also = [auth.Requirement(auth.RESOURCE_TYPE_LOGGED_MODEL, "*", auth.ACTION_NOT_DENIED)]
            return clause(SqlLoggedModel.experiment_id, allowed("experiment", also), canonical_int)
        if kind == REGISTERED_MODELS:
            import sqlalchemy
            from mlflow.prompt.constants import IS_PROMPT_TAG_KEY
            from mlflow.store.model_registry.dbmodels.models import (
                SqlRegisteredModel,
                SqlRegisteredModelTag,
            )

            # The after-request filter tells prompts from models by this tag, compared
            # case-insensitively (RegisteredModel._is_prompt); the store's own prompt exclusion
            # compares exactly. Classify the way the filter does.
            is_prompt = sqlalchemy.exists().where(
                SqlRegisteredModelTag.workspace == SqlRegisteredModel.workspace,
                SqlRegisteredModelTag.name == SqlRegisteredModel.name,
                SqlRegisteredModelTag.key == IS_PROMPT_TAG_KEY,
                sqlalchemy.func.lower(SqlRegisteredModelTag.value) == "true",
            )
            models = clause(SqlRegisteredModel.name, allowed("registered_model"))
            prompts = clause(SqlRegisteredModel.name, allowed("prompt"))
            return sqlalchemy.or_(
                sqlalchemy.and_(sqlalchemy.not_(is_prompt), models),
                sqlalchemy.and_(is_prompt, prompts),
            )
        raise ValueError(kind)


def _wrap_search(cls: type, name: str, kind: str, pushdown: Pushdown) -> None:
    original = getattr(cls, name)

    def search(self: Any, *args: Any, **kwargs: Any) -> Any:
        extra = pushdown.clause_for_request(kind)
        if extra is None:
            return original(self, *args, **kwargs)
        STATS["pushed"] += 1
        token = _CLAUSE.set((kind, extra))
        try:
            return original(self, *args, **kwargs)
        finally:
            _CLAUSE.reset(token)

    search.__wrapped__ = original  # type: ignore[attr-defined]
    search.__name__ = original.__name__
    setattr(cls, name, search)


def _current(kind: str) -> Any | None:
    value = _CLAUSE.get()
    return value[1] if value is not None and value[0] == kind else None


def install(auth: Any) -> None:
    """Patch the SQL stores (speedups.py checks their sources first)."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore
    from mlflow.store.tracking.sqlalchemy_workspace_store import WorkspaceAwareSqlAlchemyStore

    pushdown = Pushdown(auth)
    _wrap_search(TrackingStore, "search_experiments", EXPERIMENTS, pushdown)
    _wrap_search(TrackingStore, "search_logged_models", LOGGED_MODELS, pushdown)
    _wrap_search(RegistryStore, "search_registered_models", REGISTERED_MODELS, pushdown)

    # Experiments: the store's hook for extra WHERE clauses (the workspace store overrides it).
    for cls in (TrackingStore, WorkspaceAwareSqlAlchemyStore):
        where = cls.__dict__["_experiment_where_clauses"]

        def experiment_where(self: Any, _where: Any = where) -> list[Any]:
            clauses = list(_where(self))
            extra = _current(EXPERIMENTS)
            return clauses if extra is None else [*clauses, extra]

        experiment_where.__wrapped__ = where  # type: ignore[attr-defined]
        cls._experiment_where_clauses = experiment_where

    logged = TrackingStore._apply_filter_string_datasets_search_logged_models

    def logged_filter(self: Any, *args: Any, **kwargs: Any) -> Any:
        query = logged(self, *args, **kwargs)
        extra = _current(LOGGED_MODELS)
        return query if extra is None else query.filter(extra)

    logged_filter.__wrapped__ = logged  # type: ignore[attr-defined]
    TrackingStore._apply_filter_string_datasets_search_logged_models = logged_filter

    registry = RegistryStore._get_search_registered_model_filter_query

    def registry_filter(self: Any, *args: Any, **kwargs: Any) -> Any:
        query = registry(self, *args, **kwargs)
        extra = _current(REGISTERED_MODELS)
        return query if extra is None else query.where(extra)

    registry_filter.__wrapped__ = registry  # type: ignore[attr-defined]
    RegistryStore._get_search_registered_model_filter_query = registry_filter
