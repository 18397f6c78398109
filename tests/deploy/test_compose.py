"""deploy/compose.yaml, read as Compose reads it: MLflow and PostgreSQL are not
published, every service has a health check, the gateway runs in external-MLflow
mode with its secrets as files, and every variable is documented in
deploy/.env.example."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from deploytools import DEPLOY, check_config

COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
# ${VAR}, ${VAR:-default}, ${VAR:?message}, ${VAR-default}; $$ escapes a dollar.
VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|MANAGEMENT_KEY")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def _documented() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"([A-Z][A-Z0-9_]*)=", line)
        if m:
            names.add(m.group(1))
    return names


def test_every_variable_is_documented_and_every_documented_one_used() -> None:
    used = set(VAR.findall(COMPOSE.read_text()))
    secrets = yaml.safe_load(COMPOSE.read_text()).get("secrets", {})
    used |= {s["environment"] for s in secrets.values() if "environment" in s}
    documented = _documented()
    assert used, "no variables found: the pattern is wrong"
    assert sorted(used - documented) == [], "used in compose.yaml, missing from deploy/.env.example"
    assert sorted(documented - used) == [], "in deploy/.env.example, not used by compose.yaml"


def test_only_the_gateway_and_its_load_balancer_are_published(compose: dict[str, Any]) -> None:
    services = compose["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"gateway", "lb"}
    for name in ("mlflow", "postgres", "gateway-2"):
        assert not services[name].get("ports"), f"{name} must not be published"
        assert services[name].get("network_mode") != "host", f"{name} must not share the host network"
    # By default the published ports listen on loopback only.
    for name in published:
        for p in services[name]["ports"]:
            assert str(p).startswith("${MDA_BIND:-127.0.0.1}:"), p


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, s in compose["services"].items():
        test = (s.get("healthcheck") or {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"


def test_gateway_is_in_external_mode_and_waits_for_healthy_mlflow(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("gateway", "gateway-2"):
        g = services[name]
        env = _env(g)
        assert env["MLFLOW_DESCOPE_MLFLOW_URL"] == "http://mlflow:5000"
        assert env["MLFLOW_DESCOPE_AUDIT_DB"].startswith("postgres://gateway:${GATEWAY_DB_PASSWORD")
        assert g["depends_on"]["mlflow"]["condition"] == "service_healthy"
        assert g["depends_on"]["postgres"]["condition"] == "service_healthy"
        # The image's own probe command, not a shell (the image has none).
        assert g["healthcheck"]["test"] == ["CMD", "/usr/local/bin/mlflow-descope-auth", "probe"]
        assert g["read_only"] is True and g["cap_drop"] == ["ALL"]
        assert g["user"] == "65532:65532"
    # MLflow accepts the Host the gateway sends, and nothing else.
    assert "--allowed-hosts=mlflow:5000" in services["mlflow"]["command"]
    assert services["mlflow"]["read_only"] is True


def test_secrets_are_references_not_values(compose: dict[str, Any]) -> None:
    for name, s in compose["services"].items():
        for key, value in _env(s).items():
            if key.endswith("_FILE"):
                assert value.startswith("/run/secrets/"), (name, key)
            elif SECRET_NAME.search(key) or "://" in value:
                # Only a ${VAR} from deploy/.env may carry a secret or a password in a URL.
                literal = re.sub(r"\$\{[^}]*\}", "", value)
                assert not re.search(r"://[^/@]*:[^/@$]+@", literal), (name, key, value)
                if SECRET_NAME.search(key):
                    assert VAR.search(value), f"{name}: {key} is not taken from deploy/.env"
    # The two secrets the programs read from files are Compose secrets.
    assert set(compose["secrets"]) == {"assertion_secret", "descope_management_key"}
    mlflow_env = _env(compose["services"]["mlflow"])
    assert mlflow_env["MLFLOW_DESCOPE_ASSERTION_SECRET_FILE"] == "/run/secrets/assertion_secret"
    assert "MLFLOW_DESCOPE_ASSERTION_SECRET" not in mlflow_env


def test_replicas_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["gateway-2"]["profiles"] == ["replicas"]
    assert services["lb"]["profiles"] == ["replicas"]
    assert "profiles" not in services["gateway"]
    # The load balancer sends to both gateways, which trust its X-Forwarded-For.
    nginx = (DEPLOY / "compose" / "nginx.conf").read_text()
    assert re.search(r"server gateway:5000\b", nginx) and re.search(r"server gateway-2:5000\b", nginx)
    lb_address = services["lb"]["networks"]["internal"]["ipv4_address"]
    assert lb_address == "${MDA_LB_ADDRESS:-172.31.250.10}"
    for name in ("gateway", "gateway-2"):
        assert _env(services[name])["MLFLOW_DESCOPE_TRUSTED_PROXIES"] == lb_address + "/32"


def test_artifacts_and_database_live_in_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "artifacts:/var/lib/mlflow/artifacts" in services["mlflow"]["volumes"]
    assert "--artifacts-destination=/var/lib/mlflow/artifacts" in services["mlflow"]["command"]
    assert any(str(v).startswith("postgres:/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    assert set(compose["volumes"]) == {"postgres", "artifacts"}
    # MLflow's stores are the Compose PostgreSQL.
    env = _env(services["mlflow"])
    assert env["MLFLOW_BACKEND_STORE_URI"].endswith("@postgres:5432/mlflow")
    assert env["MLFLOW_AUTH_DATABASE_URI"].endswith("@postgres:5432/mlflow_auth")
    init = (DEPLOY / "compose" / "postgres-init.sh").read_text()
    for db in ("mlflow", "mlflow_auth", "gateway"):
        assert f"CREATE DATABASE {db} " in init


def _interpolate(value: str, env: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        got = env.get(name, "")
        if op == ":-":
            return got or arg
        if op == ":?":
            assert got, f"{name} is required: {arg}"
        return got

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-|:\?)?([^}]*)\}", one, value)


def test_gateway_environment_passes_check_config(compose: dict[str, Any], tmp_path) -> None:
    """The gateway's environment, as Compose hands it over with deploy/.env.example
    filled in, is a configuration the gateway accepts without a warning."""
    example = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"([A-Z][A-Z0-9_]*)=(.*)", line)
        if m:
            example[m.group(1)] = m.group(2)
    for k, v in example.items():
        if not v and (SECRET_NAME.search(k) or k.endswith("PASSWORD")):
            example[k] = "test-" + "x" * 40
    g = compose["services"]["gateway"]
    env = {k: _interpolate(v, example) for k, v in _env(g).items()}
    # What the image sets (deploy/gateway.Containerfile ENV).
    env.update(MLFLOW_DESCOPE_HOST="0.0.0.0", MLFLOW_DESCOPE_PORT="5000")
    check_config(env, tmp_path)
