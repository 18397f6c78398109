"""Entry point of the MLflow image (deploy/mlflow.Containerfile).

MLflow's basic-auth reads its settings from an INI file only (MLFLOW_AUTH_CONFIG_PATH),
and that file holds the auth database URL, a secret. Containers get settings from the
environment, so this writes the INI from the environment at every start (mode 0600,
in a temporary directory) and then replaces itself with

    python -m mlflow server --app-name descope-auth ARGS...

Environment (each secret also as NAME_FILE=/path, e.g. a Compose or Kubernetes secret
mounted as a file; setting both is an error):

  MLFLOW_AUTH_DATABASE_URI        users, roles, grants (required), e.g. postgresql://…
  MLFLOW_AUTH_DEFAULT_PERMISSION  READ (default), NO_PERMISSIONS, USE, EDIT or MANAGE
  MLFLOW_AUTH_ADMIN_USERNAME      the admin the gateway acts as (default
                                  mlflow-descope-auth-admin; the gateway's setting of
                                  the same name must match)
  MLFLOW_AUTH_ADMIN_PASSWORD      required by MLflow to create that admin; never used
  MLFLOW_FLASK_SERVER_SECRET_KEY  required by MLflow; the same on every MLflow replica
  MLFLOW_BACKEND_STORE_URI        the tracking store, read by `mlflow server` itself
  MLFLOW_DESCOPE_ASSERTION_SECRET the secret shared with the gateway (read by the plugin)

When MLFLOW_AUTH_CONFIG_PATH names an existing file and MLFLOW_AUTH_DATABASE_URI is
not set, that file is used as it is (an INI you mount yourself).

A first argument that is not an option runs that command instead (`… python -c …`).
Standard library only: it runs before anything else in the image.
"""

from __future__ import annotations

import configparser
import io
import os
import sys
import tempfile
from collections.abc import MutableMapping, Sequence

AUTHORIZATION_FUNCTION = "mlflow_descope_auth.auth:authenticate"
DEFAULT_ADMIN = "mlflow-descope-auth-admin"
PERMISSIONS = ("NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE")
# Settings that may come from a file (NAME_FILE). The assertion secret's _FILE
# variant is read by the plugin itself.
FILE_SETTINGS = (
    "MLFLOW_AUTH_DATABASE_URI",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "MLFLOW_BACKEND_STORE_URI",
)


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


def resolve_files(environ: MutableMapping[str, str]) -> None:
    """Replace NAME_FILE by NAME (the file's contents, trailing newlines removed)."""
    for name in FILE_SETTINGS:
        path = environ.get(name + "_FILE")
        if not path:
            continue
        if environ.get(name):
            raise ConfigError(f"{name} and {name}_FILE are both set")
        try:
            with open(path, encoding="utf-8") as f:
                environ[name] = f.read().rstrip("\r\n")
        except OSError as e:
            raise ConfigError(f"{name}_FILE: {e}") from e
        del environ[name + "_FILE"]


def render_ini(environ: MutableMapping[str, str]) -> str:
    """The basic-auth INI for this environment. Raises ConfigError."""
    db = environ.get("MLFLOW_AUTH_DATABASE_URI", "").strip()
    if not db:
        raise ConfigError("MLFLOW_AUTH_DATABASE_URI is required (MLflow's auth database)")
    permission = environ.get("MLFLOW_AUTH_DEFAULT_PERMISSION", "READ").strip() or "READ"
    if permission not in PERMISSIONS:
        raise ConfigError(
            f"MLFLOW_AUTH_DEFAULT_PERMISSION must be one of {', '.join(PERMISSIONS)}, got {permission!r}"
        )
    admin = environ.get("MLFLOW_AUTH_ADMIN_USERNAME", "").strip() or DEFAULT_ADMIN
    values = {
        "default_permission": permission,
        "database_uri": db,
        "admin_username": admin,
        "authorization_function": AUTHORIZATION_FUNCTION,
    }
    # MLflow < 3.16.1 reads the admin password only from the INI (later releases
    # prefer MLFLOW_AUTH_ADMIN_PASSWORD from the environment).
    password = environ.get("MLFLOW_AUTH_ADMIN_PASSWORD", "")
    if password:
        values["admin_password"] = password
    for key, value in values.items():
        if "\n" in value or "\r" in value:
            raise ConfigError(f"the {key} setting must be one line")
    # MLflow reads the file with configparser's % interpolation: write % as %%.
    ini = configparser.ConfigParser(interpolation=None)
    ini["mlflow"] = {k: v.replace("%", "%%") for k, v in values.items()}
    out = io.StringIO()
    ini.write(out)
    return out.getvalue()


def write_ini(environ: MutableMapping[str, str]) -> str:
    """Write the INI (0600) and point MLFLOW_AUTH_CONFIG_PATH at it; return its path."""
    given = environ.get("MLFLOW_AUTH_CONFIG_PATH", "")
    if given and os.path.isfile(given) and not environ.get("MLFLOW_AUTH_DATABASE_URI"):
        return given
    text = render_ini(environ)
    directory = tempfile.mkdtemp(prefix="mlflow-descope-auth-")
    path = os.path.join(directory, "basic_auth.ini")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    environ["MLFLOW_AUTH_CONFIG_PATH"] = path
    environ.setdefault("MLFLOW_AUTH_ADMIN_USERNAME", DEFAULT_ADMIN)
    # The INI is the auth database's only home from here on.
    environ.pop("MLFLOW_AUTH_DATABASE_URI", None)
    return path


def command(argv: Sequence[str]) -> list[str]:
    """The command to exec: mlflow server with the arguments, or argv itself."""
    if argv and not argv[0].startswith("-"):
        return list(argv)
    return [sys.executable, "-m", "mlflow", "server", "--app-name", "descope-auth", *argv]


def main(argv: Sequence[str]) -> int:
    cmd = command(argv)
    if cmd[:3] == [sys.executable, "-m", "mlflow"]:
        try:
            resolve_files(os.environ)
            path = write_ini(os.environ)
        except ConfigError as e:
            sys.stderr.write(f"mlflow entrypoint: {e}\n")
            return 2
        sys.stderr.write(f"mlflow entrypoint: auth config {path}\n")
        os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    sys.stderr.flush()
    os.execvp(cmd[0], cmd)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
