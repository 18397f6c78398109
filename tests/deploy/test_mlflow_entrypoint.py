"""deploy/mlflow/entrypoint.py, the MLflow image's entry point: the basic-auth INI
it writes from the environment (read back with configparser as MLflow reads it),
NAME_FILE secrets, and refusals. It also starts the real MLflow of test_image.py."""

from __future__ import annotations

import configparser
import importlib.util
import os
import stat
import sys
from pathlib import Path
from types import ModuleType

import pytest
from deploytools import DEPLOY


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mda_entrypoint", DEPLOY / "mlflow" / "entrypoint.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ep = _load()


def _read_as_mlflow(path: str) -> configparser.SectionProxy:
    # MLflow's read_auth_config: a default ConfigParser (with % interpolation).
    cp = configparser.ConfigParser()
    assert cp.read(path) == [path]
    return cp["mlflow"]


def test_ini_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ep.tempfile, "tempdir", str(tmp_path))
    env = {
        "MLFLOW_AUTH_DATABASE_URI": "postgresql://mlflow:p%40ss%word@db:5432/mlflow_auth",
        "MLFLOW_AUTH_DEFAULT_PERMISSION": "NO_PERMISSIONS",
        "MLFLOW_AUTH_ADMIN_USERNAME": "gw-admin",
        "MLFLOW_AUTH_ADMIN_PASSWORD": "pw%with%percent",
    }
    path = ep.write_ini(env)
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == path
    assert "MLFLOW_AUTH_DATABASE_URI" not in env, "the URI stays in the 0600 file only"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    ini = _read_as_mlflow(path)
    assert ini["database_uri"] == "postgresql://mlflow:p%40ss%word@db:5432/mlflow_auth"
    assert ini["default_permission"] == "NO_PERMISSIONS"
    assert ini["admin_username"] == "gw-admin"
    # MLflow < 3.16.1 reads the admin password only from the INI.
    assert ini["admin_password"] == "pw%with%percent"
    assert ini["authorization_function"] == "mlflow_descope_auth.auth:authenticate"


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ep.tempfile, "tempdir", str(tmp_path))
    env = {"MLFLOW_AUTH_DATABASE_URI": "sqlite:////var/lib/mlflow/auth.db"}
    ini = _read_as_mlflow(ep.write_ini(env))
    assert ini["default_permission"] == "READ"
    assert ini["admin_username"] == "mlflow-descope-auth-admin"
    assert "admin_password" not in ini
    assert env["MLFLOW_AUTH_ADMIN_USERNAME"] == "mlflow-descope-auth-admin"


def test_own_ini_is_kept(tmp_path: Path) -> None:
    own = tmp_path / "mine.ini"
    own.write_text("[mlflow]\ndefault_permission = READ\n")
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(own)}
    assert ep.write_ini(env) == str(own)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "MLFLOW_AUTH_DATABASE_URI is required"),
        ({"MLFLOW_AUTH_DATABASE_URI": "  "}, "MLFLOW_AUTH_DATABASE_URI is required"),
        ({"MLFLOW_AUTH_DATABASE_URI": "sqlite://", "MLFLOW_AUTH_DEFAULT_PERMISSION": "ADMIN"}, "MLFLOW_AUTH_DEFAULT_PERMISSION"),
        ({"MLFLOW_AUTH_DATABASE_URI": "sqlite://\n[other]"}, "one line"),
    ],
)
def test_refusals(env: dict[str, str], message: str) -> None:
    with pytest.raises(ep.ConfigError, match=message):
        ep.render_ini(env)


def test_file_settings(tmp_path: Path) -> None:
    f = tmp_path / "uri"
    f.write_text("postgresql://u:secret@db/mlflow\n")
    env = {"MLFLOW_BACKEND_STORE_URI_FILE": str(f)}
    ep.resolve_files(env)
    assert env == {"MLFLOW_BACKEND_STORE_URI": "postgresql://u:secret@db/mlflow"}
    with pytest.raises(ep.ConfigError, match="both set"):
        ep.resolve_files({"MLFLOW_AUTH_ADMIN_PASSWORD": "x", "MLFLOW_AUTH_ADMIN_PASSWORD_FILE": str(f)})
    with pytest.raises(ep.ConfigError, match="MLFLOW_AUTH_DATABASE_URI_FILE"):
        ep.resolve_files({"MLFLOW_AUTH_DATABASE_URI_FILE": str(tmp_path / "missing")})


def test_command() -> None:
    assert ep.command(["--port", "5000"]) == [sys.executable, "-m", "mlflow", "server", "--app-name", "descope-auth", "--port", "5000"]
    assert ep.command([]) == [sys.executable, "-m", "mlflow", "server", "--app-name", "descope-auth"]
    assert ep.command(["python", "-c", "pass"]) == ["python", "-c", "pass"]
