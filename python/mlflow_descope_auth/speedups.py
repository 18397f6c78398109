"""Turn on the authorization cache (cache.py) and the SQL search filter (search.py).

Both replace or wrap MLflow internals, so each is enabled only when the source of every MLflow
function it relies on is byte for byte one this module was checked against (SHA-256 of
``inspect.getsource``, table ``KNOWN``). Any other MLflow version, a patched MLflow, or sources
that cannot be read: that speed-up stays off, with one log line saying why, and MLflow runs as
it would without it. Anything unexpected while installing: the same.

``MLFLOW_DESCOPE_AUTH_SPEEDUPS`` selects them: unset or ``on`` (both), ``off``, ``cache``,
``search`` (one), ``cache,search``. Another value refuses to start (``check_switch``).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_logger = logging.getLogger(__name__)

SWITCH_ENV = "MLFLOW_DESCOPE_AUTH_SPEEDUPS"
CACHE = "cache"
SEARCH = "search"
FEATURES = (CACHE, SEARCH)

_AUTH = "mlflow.server.auth"
_AUTH_STORE = "mlflow.server.auth.sqlalchemy_store"
_TRACKING = "mlflow.store.tracking.sqlalchemy_store"
_TRACKING_WS = "mlflow.store.tracking.sqlalchemy_workspace_store"
_REGISTRY = "mlflow.store.model_registry.sqlalchemy_store"

#: What each speed-up relies on, and the sources it was checked against, per MLflow release.
#: ``python -m mlflow_descope_auth.speedups`` prints the digests of the installed MLflow.
RELIES_ON: dict[str, tuple[str, ...]] = {
    CACHE: (
        # memoized: must be pure reads of the auth database
        f"{_AUTH_STORE}:SqlAlchemyStore.get_user",
        f"{_AUTH_STORE}:SqlAlchemyStore._get_user",
        f"{_AUTH_STORE}:SqlAlchemyStore.list_grants",
        # replaced by cache.wrap_run_requirement, which builds the same requirements
        f"{_AUTH}:_run_requirement",
        f"{_AUTH}:_fetch_or_none",
    ),
    SEARCH: (
        # the after-request filters that still verify every row, and their predicates
        f"{_AUTH}:_after_request",
        f"{_AUTH}:filter_search_experiments",
        f"{_AUTH}:filter_search_registered_models",
        f"{_AUTH}:filter_search_logged_models",
        f"{_AUTH}:_rm_or_prompt_read_predicate",
        f"{_AUTH}:_entity_is_prompt",
        f"{_AUTH}:_prompt_marker_in_tags",
        f"{_AUTH}:_role_based_read_predicate",
        f"{_AUTH}:retention_gate",
        f"{_AUTH}:RetentionGate",
        f"{_AUTH}:get_anchor_workspace",
        f"{_AUTH}:sender_is_admin",
        "mlflow.server.auth.permissions:matches",
        "mlflow.server.auth.requirements:fold_grants_for_key",
        "mlflow.entities.model_registry.registered_model:RegisteredModel._is_prompt",
        # the store code the extra WHERE clause goes into
        f"{_TRACKING}:SqlAlchemyStore.search_experiments",
        f"{_TRACKING}:SqlAlchemyStore._search_experiments",
        f"{_TRACKING}:SqlAlchemyStore._experiment_where_clauses",
        f"{_TRACKING_WS}:WorkspaceAwareSqlAlchemyStore._experiment_where_clauses",
        f"{_TRACKING}:SqlAlchemyStore.search_logged_models",
        f"{_TRACKING}:SqlAlchemyStore._apply_filter_string_datasets_search_logged_models",
        f"{_REGISTRY}:SqlAlchemyStore.search_registered_models",
        f"{_REGISTRY}:SqlAlchemyStore._get_search_registered_model_filter_query",
    ),
}

#: feature → accepted {name: sha256} sets, one per MLflow release checked.
KNOWN: dict[str, list[dict[str, str]]] = {
    CACHE: [
        # MLflow 3.17.2
        {
            "mlflow.server.auth.sqlalchemy_store:SqlAlchemyStore._get_user": "459b9df3037c82fc68f84d72636d9c1502670aec1a154860446b10ce21672e6d",
            "mlflow.server.auth.sqlalchemy_store:SqlAlchemyStore.get_user": "d7a5d659abecfc5e7f7bdef106963911b368e3a7c870be7b23c1be4a79fb5b18",
            "mlflow.server.auth.sqlalchemy_store:SqlAlchemyStore.list_grants": "7da32bf8506919a05885bd006f76841a6446847392c9846b5d9f529218e80ba5",
            "mlflow.server.auth:_fetch_or_none": "cbbbdb9b3e128da56116c46dce8a71999c55f0898392182b82b61dacccd064ad",
            "mlflow.server.auth:_run_requirement": "dd0c00e3e8452138dae2eda36094af07e9006c2223cffff5926806cce4641cfe",
        },
    ],
    SEARCH: [
        # MLflow 3.17.2
        {
            "mlflow.entities.model_registry.registered_model:RegisteredModel._is_prompt": "203e0cac1ba130c91893172600a9478ebbe0eee61fc2d083a7add8b602e15ec1",
            "mlflow.server.auth.permissions:matches": "051596e27a60eaa2c385f2e4cf496d6acc83b16a0a16b716dea39604c290794a",
            "mlflow.server.auth.requirements:fold_grants_for_key": "4499548b1cebfc34ba1050c60f28d22ec06a40f6b2453e3e4b6b3f73a0eb6624",
            "mlflow.server.auth:RetentionGate": "2573bf3bb3ea86f557f6db7c9c627b64249eb0dfbf427e45f3d46abc519462a9",
            "mlflow.server.auth:_after_request": "a12244138d8e4c8adc0a0659e3462e32e9403f0048ddcb7d0e1d1d9bab233caa",
            "mlflow.server.auth:_entity_is_prompt": "4165dac84a9d90ce49089a038b876f4b7474e7adad89022bef6d0485094271be",
            "mlflow.server.auth:_prompt_marker_in_tags": "58b1901a29d34469378f47b595b1662aaa414dcbaf29cdca3e272bf623d218e8",
            "mlflow.server.auth:_rm_or_prompt_read_predicate": "1fee5a320179eaed0b31d9a3f8c5cda4d705e28f27d3ac7a45f3aecd6b089484",
            "mlflow.server.auth:_role_based_read_predicate": "98cb18091cdccaf40fa647ee9bad8f4df811c6ead086a651064867601876abdb",
            "mlflow.server.auth:filter_search_experiments": "9b275a6d001f823d30dd2077c04074ffdd966ba99d8a7366d2c3cb0a41c47568",
            "mlflow.server.auth:filter_search_logged_models": "ee1047c10488c63db1b7979733a63f278cc2ff0781f69fbcd5f0c08fa54007fc",
            "mlflow.server.auth:filter_search_registered_models": "f9df914af2262dfeac863ddb2303ba53034613f52842024a66b1095a499b34f1",
            "mlflow.server.auth:get_anchor_workspace": "0e077c3aa27ffdd9e137c54971cadd083f227196780016d384bcedfe3e16bf2c",
            "mlflow.server.auth:retention_gate": "4e1446fc3bd1b3e850ab19b19a8f983a8dcf68249ea9baea14a9aaf60dccca94",
            "mlflow.server.auth:sender_is_admin": "7a9ed36212d57ad60c8fc364947142d2ee82003c2897a0a4c8e5363249db70f6",
            "mlflow.store.model_registry.sqlalchemy_store:SqlAlchemyStore._get_search_registered_model_filter_query": "801b2e20d6db46272ba6738d2413a10c0547876703b05973bc13a9702cfebf54",
            "mlflow.store.model_registry.sqlalchemy_store:SqlAlchemyStore.search_registered_models": "dfaad31387fe838de664935220ed0587887eeff81f45b1678d17edc1e65b7424",
            "mlflow.store.tracking.sqlalchemy_store:SqlAlchemyStore._apply_filter_string_datasets_search_logged_models": "8e22f6de44680cb333ce2a7e483cc39660f39001dd31aeb00e3a92ee75b84f88",
            "mlflow.store.tracking.sqlalchemy_store:SqlAlchemyStore._experiment_where_clauses": "8c32687066da918f85b96d1b027af8a7ff4f2717044b4c93d9b8fd3d87f3c938",
            "mlflow.store.tracking.sqlalchemy_store:SqlAlchemyStore._search_experiments": "d3198a54dc83f34bd6791e13b847a2178e4b78bf0f47f5901f71a4348a0668bd",
            "mlflow.store.tracking.sqlalchemy_store:SqlAlchemyStore.search_experiments": "858ecc0d819903cc5afb440f79eb4cb7a4aa863930ee48199c7ae34c598bb367",
            "mlflow.store.tracking.sqlalchemy_store:SqlAlchemyStore.search_logged_models": "3faa5393c85ff516bee808f0945d27e9e12ae01d5d56ffe5a3e06b26bb765d9b",
            "mlflow.store.tracking.sqlalchemy_workspace_store:WorkspaceAwareSqlAlchemyStore._experiment_where_clauses": "3479d58552292a47b885d374d80bf08d70006fa4f5324bc5f811f399d2b35d0b",
        },
    ],
}


class SwitchError(ValueError):
    """MLFLOW_DESCOPE_AUTH_SPEEDUPS has a value we do not understand."""


def check_switch(environ: Mapping[str, str]) -> frozenset[str]:
    """The speed-ups ``MLFLOW_DESCOPE_AUTH_SPEEDUPS`` asks for. Raises SwitchError."""
    raw = environ.get(SWITCH_ENV, "").strip().lower()
    if raw in ("", "on", "true", "1"):
        return frozenset(FEATURES)
    if raw in ("off", "false", "0", "none"):
        return frozenset()
    parts = {p.strip() for p in raw.split(",") if p.strip()}
    unknown = parts - set(FEATURES)
    if unknown or not parts:
        raise SwitchError(
            f"{SWITCH_ENV}={environ.get(SWITCH_ENV)!r}: use on, off, cache, search or cache,search"
        )
    return frozenset(parts)


def _resolve(name: str) -> Any:
    module_name, _, qualname = name.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def fingerprint(name: str) -> str:
    """SHA-256 of the source of ``module:qualname``; raises if it cannot be read."""
    obj = _resolve(name)
    source = inspect.getsource(obj)
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def fingerprints(feature: str) -> dict[str, str]:
    return {name: fingerprint(name) for name in RELIES_ON[feature]}


def recognised(feature: str) -> tuple[bool, str]:
    """Whether the installed MLflow is one ``feature`` was checked against, and why not."""
    try:
        current = fingerprints(feature)
    except Exception as e:  # missing module or attribute, no source: not recognised
        return False, f"MLflow internals not found ({type(e).__name__}: {e})"
    if current in KNOWN[feature]:
        return True, ""
    changed = sorted(
        name
        for name in current
        if all(known.get(name) != current[name] for known in KNOWN[feature])
    )
    return False, "MLflow internals differ from the checked releases: " + ", ".join(changed)


@dataclass
class Status:
    """What is on in this worker, and why the rest is off."""

    enabled: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    memo: Any = None
    counter: Any = None


_status: Status | None = None


def status() -> Status | None:
    """The result of ``install`` in this process (None before)."""
    return _status


def install(environ: Mapping[str, str] | None = None) -> Status:
    """Enable what the switch asks for and the installed MLflow allows. Once per process."""
    global _status
    if _status is not None:
        return _status
    environ = os.environ if environ is None else environ
    wanted = check_switch(environ)
    st = Status()
    for feature in FEATURES:
        st.enabled[feature] = False
        if feature not in wanted:
            st.reasons[feature] = f"turned off by {SWITCH_ENV}"
            continue
        ok, why = recognised(feature)
        if not ok:
            st.reasons[feature] = why
            continue
        try:
            if feature == CACHE:
                _install_cache(st)
            else:
                _install_search()
        except Exception as e:
            st.reasons[feature] = f"not installed: {e}"
            _logger.exception("mlflow-descope-auth: %s speed-up not installed", feature)
            continue
        st.enabled[feature] = True
    for feature in FEATURES:
        if st.enabled[feature]:
            _logger.info("mlflow-descope-auth: %s speed-up on", feature)
        else:
            _logger.warning("mlflow-descope-auth: %s speed-up off: %s", feature, st.reasons[feature])
    _status = st
    return st


def _install_cache(st: Status) -> None:
    import mlflow.server.auth as auth

    from mlflow_descope_auth.cache import Memo, RunExperiments, wrap_run_requirement, wrap_store
    from mlflow_descope_auth.generation import Counter

    store = auth.store
    counter = Counter(store.engine, getattr(store, "read_engine", None))
    counter.install()
    memo = Memo(counter)
    wrap_store(store, memo)
    wrap_run_requirement(auth, RunExperiments())
    st.memo, st.counter = memo, counter


def _install_search() -> None:
    import mlflow.server.auth as auth

    from mlflow_descope_auth import search

    search.install(auth)


def _main() -> None:
    import json

    print(json.dumps({f: fingerprints(f) for f in FEATURES}, indent=2, sort_keys=True))


if __name__ == "__main__":
    _main()
