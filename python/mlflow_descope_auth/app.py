"""The ``descope-auth`` entry point of the ``mlflow.app`` group.

``mlflow server --app-name descope-auth`` runs MLflow's own basic-auth app unchanged;
this module only checks the configuration and restores what ``mlflow server`` does for
the literal app name ``basic-auth`` and not for any other name (MLflow 3.12-3.18,
``mlflow/server/__init__.py::_run_server``):

1. (MLflow >= 3.16.1) Bootstrap before workers start: validate ``MLFLOW_FLASK_SERVER_SECRET_KEY``, create
   the admin user, and mark it done with ``_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED`` so a bad
   configuration fails the command once instead of crash-looping uvicorn workers.
2. ``_MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN``: one random token shared by all workers, with
   which server-internal callers authenticate on ``/gateway/`` routes.
3. ``_MLFLOW_ASSISTANT_DELEGATION_SIGNING_KEY``: shared by the workers only. MLflow keeps
   it from the job runner; a plugin can only put it in the environment every child
   inherits, so it is set only when server-side job execution is off.

``mlflow server`` imports this module in its own process (to learn whether the entry
point is a factory) before it builds the worker environment and before it decides
whether to start the job runner, so the preparation runs at import time, but only inside
``mlflow server --app-name descope-auth`` (detected from click's current context).
Workers, tests and other importers see no side effect.

Server-side jobs run user-supplied code (custom scorers) in subprocesses that inherit
the server's environment, assertion secret included. Unless the operator explicitly set
``MLFLOW_SERVER_ENABLE_JOB_EXECUTION``, it is set to ``false`` here.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping, MutableMapping
from typing import Any

import click

from mlflow_descope_auth import speedups
from mlflow_descope_auth.auth import AUTHORIZATION_FUNCTION, ConfigError, load_secret

APP_NAME = "descope-auth"
JOB_EXECUTION_ENV = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
_ADMIN_BOOTSTRAPPED_ENV = "_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED"
_INTERNAL_GATEWAY_TOKEN_ENV = "_MLFLOW_INTERNAL_GATEWAY_AUTH_TOKEN"
_DELEGATION_KEY_ENV = "_MLFLOW_ASSISTANT_DELEGATION_SIGNING_KEY"

_logger = logging.getLogger(__name__)


def check_config(environ: Mapping[str, str]) -> None:
    """Refuse to start without a usable secret or with another authorization function.

    Raises ConfigError.
    """
    load_secret(environ)
    try:
        speedups.check_switch(environ)
    except speedups.SwitchError as e:
        raise ConfigError(str(e)) from e
    from mlflow.server.auth import auth_config

    if auth_config.authorization_function != AUTHORIZATION_FUNCTION:
        raise ConfigError(
            f"the auth config file (MLFLOW_AUTH_CONFIG_PATH) must set "
            f"authorization_function = {AUTHORIZATION_FUNCTION}, "
            f"got {auth_config.authorization_function}"
        )


def _job_execution_enabled(environ: Mapping[str, str]) -> bool:
    return environ.get(JOB_EXECUTION_ENV, "true").strip().lower() in ("true", "1")


def prepare_server_process(environ: MutableMapping[str, str]) -> None:
    """Do in the ``mlflow server`` process what MLflow does there for ``basic-auth``.

    ``environ`` is ``os.environ`` in production: ``mlflow server`` copies it into the
    environment of uvicorn and its workers.
    """
    check_config(environ)
    if JOB_EXECUTION_ENV not in environ:
        environ[JOB_EXECUTION_ENV] = "false"
        _logger.info("mlflow-descope-auth: server-side job execution disabled")
    elif _job_execution_enabled(environ):
        _logger.warning(
            "mlflow-descope-auth: %s is on; job subprocesses inherit the assertion secret "
            "and can impersonate any user",
            JOB_EXECUTION_ENV,
        )

    import mlflow.server as mlflow_server

    # MLflow >= 3.16.1 bootstraps basic-auth's admin in this process, before the
    # workers start, with a function whose checks differ by release (3.17 also
    # validates the Flask secret key): call the installed release's own. Older
    # releases have no such step: each worker's create_app creates the admin (from
    # the INI's admin_username/admin_password), for descope-auth as for basic-auth.
    bootstrap = getattr(mlflow_server, "_bootstrap_basic_auth", None)
    if bootstrap is not None:
        bootstrap()
        environ[_ADMIN_BOOTSTRAPPED_ENV] = "true"
    if not environ.get(_INTERNAL_GATEWAY_TOKEN_ENV):
        environ[_INTERNAL_GATEWAY_TOKEN_ENV] = secrets.token_hex(32)
    if not _job_execution_enabled(environ) and not environ.get(_DELEGATION_KEY_ENV):
        environ[_DELEGATION_KEY_ENV] = secrets.token_hex(32)


def _in_mlflow_server_command() -> bool:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.command.name == "server" and ctx.params.get("app_name") == APP_NAME:
            return True
        ctx = ctx.parent
    return False


def create_app() -> Any:
    """App factory for ``mlflow server --app-name descope-auth`` (one call per worker).

    Returns MLflow's basic-auth app: FastAPI under uvicorn (the default), Flask under
    gunicorn or waitress. Then turns on the authorization cache and the SQL search filter
    where the installed MLflow allows it (speedups.py; ``MLFLOW_DESCOPE_AUTH_SPEEDUPS``).
    """
    check_config(os.environ)
    from mlflow.server.auth import create_app as create_basic_auth_app

    app = create_basic_auth_app()
    speedups.install(os.environ)
    return app


if _in_mlflow_server_command():
    prepare_server_process(os.environ)
