"""The Helm chart, linted and rendered by helm, and the rendered YAML read back:
probes, security contexts, MLflow's Service ClusterIP only, secrets only by
reference, with the documented values (ci/default-values.yaml) and with three
replicas on PostgreSQL (ci/replicas3-postgres-values.yaml)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploytools import CHART, check_config

KUBE_VERSION = "1.30.0"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
SECRET_ENV = {
    "DESCOPE_MANAGEMENT_KEY",
    "MLFLOW_DESCOPE_ASSERTION_SECRET",
    "MLFLOW_DESCOPE_AUDIT_DB",
    "MLFLOW_BACKEND_STORE_URI",
    "MLFLOW_AUTH_DATABASE_URI",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
}


def render(helm: str, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [helm, "template", "rel", str(CHART), "--namespace", "ml", "--kube-version", KUBE_VERSION, *args],
        capture_output=True, text=True, timeout=120,
    )
    if out.returncode != 0:
        raise RenderError(out.stderr)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


class RenderError(Exception):
    pass


def kinds(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name_suffix: str) -> dict[str, Any]:
    found = [d for d in kinds(docs, kind) if d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"{kind} *{name_suffix}: {len(found)} found"
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.fixture(scope="module", params=[p.name for p in CI_VALUES])
def rendered(request: pytest.FixtureRequest, helm: str) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(helm, "-f", str(CHART / "ci" / request.param))


def test_ci_values_exist() -> None:
    names = {p.name for p in CI_VALUES}
    assert {"default-values.yaml", "replicas3-postgres-values.yaml"} <= names


@pytest.mark.parametrize("values", [p.name for p in CI_VALUES])
def test_lint(helm: str, values: str) -> None:
    out = subprocess.run(
        [helm, "lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION, "-f", str(CHART / "ci" / values)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 chart(s) failed" in out.stdout


def test_probes_and_security_contexts(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    deployments = kinds(docs, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {"rel-mlflow-descope-auth-gateway", "rel-mlflow-descope-auth-mlflow"}
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0
        assert psc["seccompProfile"]["type"] == "RuntimeDefault"
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, c["name"]
            assert sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc["runAsNonRoot"] is True, c["name"]
            assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], c["name"]
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                assert c[probe]["httpGet"]["port"] == "http", (c["name"], probe)
    gw = one(docs, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0]
    assert gw["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert gw["livenessProbe"]["httpGet"]["path"] == "/health"
    assert gw["startupProbe"]["httpGet"]["path"] == "/health"
    assert one(docs, "Deployment", "-gateway")["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65532


def test_mlflow_is_cluster_internal(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    mlflow_selector = one(docs, "Deployment", "-mlflow")["spec"]["selector"]["matchLabels"]
    for svc in kinds(docs, "Service"):
        sel = svc["spec"].get("selector", {})
        if sel.get("app.kubernetes.io/component") == "mlflow" or sel == mlflow_selector:
            assert svc["spec"]["type"] == "ClusterIP", svc["metadata"]["name"]
            assert "externalIPs" not in svc["spec"] and "nodePort" not in str(svc["spec"])
    assert one(docs, "Service", "-mlflow")["spec"]["type"] == "ClusterIP"
    # Nothing routes the outside world to MLflow.
    for ing in kinds(docs, "Ingress"):
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                assert p["backend"]["service"]["name"].endswith("-gateway")
    # Only the gateways may connect to MLflow.
    np = one(docs, "NetworkPolicy", "-mlflow")
    assert np["spec"]["podSelector"]["matchLabels"] == mlflow_selector
    (rule,) = np["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": one(docs, "Deployment", "-gateway")["spec"]["selector"]["matchLabels"]}}]


def test_secrets_only_by_reference(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    name, docs = rendered
    assert kinds(docs, "Secret") == [], "the chart must not create Secrets"
    secret_name = yaml.safe_load((CHART / "ci" / name).read_text()).get("secrets", {}).get("name", "mlflow-descope-auth")
    for d in kinds(docs, "Deployment"):
        for c in d["spec"]["template"]["spec"]["containers"]:
            for e in c.get("env", []):
                if e["name"] in SECRET_ENV:
                    assert "value" not in e, (c["name"], e["name"])
                    ref = e["valueFrom"]["secretKeyRef"]
                    assert ref["name"] == secret_name and ref["key"], (c["name"], e["name"])
                elif "value" in e:
                    # No credentials in a plain value (a URL with a password, say).
                    assert not re.search(r"://[^/@\s]*:[^/@\s]+@", str(e["value"])), (c["name"], e["name"])
    for cm in kinds(docs, "ConfigMap"):
        assert "://" not in str(cm.get("data")), cm["metadata"]["name"]


def test_gateway_reaches_mlflow_by_its_service(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    gw = one(docs, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0]
    url = env_of(gw)["MLFLOW_DESCOPE_MLFLOW_URL"]["value"]
    svc = one(docs, "Service", "-mlflow")
    host_port = f"{svc['metadata']['name']}.ml.svc:{svc['spec']['ports'][0]['port']}"
    assert url == "http://" + host_port
    ml = one(docs, "Deployment", "-mlflow")["spec"]["template"]["spec"]["containers"][0]
    allowed = [a for a in ml["args"] if a.startswith("--allowed-hosts=")]
    assert allowed and host_port in allowed[0].split("=", 1)[1].split(",")
    assert env_of(gw)["MLFLOW_AUTH_ADMIN_USERNAME"]["value"] == env_of(ml)["MLFLOW_AUTH_ADMIN_USERNAME"]["value"]


def test_documented_values(helm: str) -> None:
    docs = render(helm, "-f", str(CHART / "ci" / "default-values.yaml"))
    gw = one(docs, "Deployment", "-gateway")
    assert gw["spec"]["replicas"] == 2
    env = env_of(gw["spec"]["template"]["spec"]["containers"][0])
    assert env["MLFLOW_DESCOPE_AUDIT_DB"]["valueFrom"]["secretKeyRef"]["key"] == "audit-database-url"
    assert env["DESCOPE_MANAGEMENT_KEY"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert env["MLFLOW_DESCOPE_PUBLIC_URL"]["value"] == "https://mlflow.example.com"
    assert env["MLFLOW_DESCOPE_METRICS_ADDR"]["value"] == "0.0.0.0:9464"
    assert one(docs, "PodDisruptionBudget", "-gateway")["spec"]["minAvailable"] == 1
    assert one(docs, "PersistentVolumeClaim", "-artifacts")["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert kinds(docs, "ServiceMonitor") == [] and kinds(docs, "Ingress") == []


def test_three_replicas_on_postgres(helm: str) -> None:
    docs = render(helm, "-f", str(CHART / "ci" / "replicas3-postgres-values.yaml"))
    gw = one(docs, "Deployment", "-gateway")
    assert gw["spec"]["replicas"] == 3
    pod = gw["spec"]["template"]["spec"]
    env = env_of(pod["containers"][0])
    assert env["MLFLOW_DESCOPE_AUDIT_DB"]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-prod", "key": "gateway-postgres-url"}
    assert env["DESCOPE_ROLE_MAPPING_FILE"]["value"] == "/etc/mlflow-descope-auth/roles.json"
    assert one(docs, "ConfigMap", "-gateway-roles")["data"]["roles.json"].lstrip().startswith("{")
    assert one(docs, "PodDisruptionBudget", "-gateway")["spec"]["selector"]["matchLabels"] == gw["spec"]["selector"]["matchLabels"]
    assert gw["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    ml = one(docs, "Deployment", "-mlflow")
    assert ml["spec"]["replicas"] == 2
    assert "--artifacts-destination=s3://mlflow-artifacts/prod" in ml["spec"]["template"]["spec"]["containers"][0]["args"]
    assert kinds(docs, "PersistentVolumeClaim") == []
    sm = one(docs, "ServiceMonitor", "-gateway")
    assert sm["spec"]["endpoints"][0]["port"] == "metrics" and sm["metadata"]["labels"]["release"] == "prometheus"
    metrics_svc = one(docs, "Service", "-gateway-metrics")
    assert all(metrics_svc["metadata"]["labels"][k] == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
    assert metrics_svc["spec"]["ports"][0]["targetPort"] == "metrics"
    ing = one(docs, "Ingress", "-gateway")
    assert ing["spec"]["tls"][0]["secretName"] == "mlflow-example-com-tls"


def test_single_gateway_on_sqlite(helm: str) -> None:
    docs = render(helm, "-f", str(CHART / "ci" / "single-sqlite-values.yaml"))
    assert kinds(docs, "PodDisruptionBudget") == []
    env = env_of(one(docs, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0])
    assert "MLFLOW_DESCOPE_AUDIT_DB" not in env and "DESCOPE_MANAGEMENT_KEY" not in env
    assert env["MLFLOW_DESCOPE_METRICS_ADDR"]["value"] == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "gateway.publicUrl is required"),
        (("--set", "gateway.publicUrl=https://x.example", ), "gateway.descope.projectId is required"),
        (("-f", "default-values.yaml", "--set", "gateway.replicas=3", "--set", "secrets.auditDatabaseUrlKey="), "needs secrets.auditDatabaseUrlKey"),
        (("-f", "default-values.yaml", "--set", "secrets.assertionSecretKey="), "secrets.assertionSecretKey is required"),
        (("-f", "default-values.yaml", "--set", "gateway.enableWorkspaces=true"), "must be equal"),
        (("-f", "default-values.yaml", "--set", "mlflow.replicas=2"), "shared artifact store"),
        (("-f", "default-values.yaml", "--set", "ingress.enabled=true"), "ingress.host is required"),
    ],
)
def test_refuses_wrong_values(helm: str, args: tuple[str, ...], message: str) -> None:
    args = tuple(str(CHART / "ci" / a) if a.endswith(".yaml") else a for a in args)
    with pytest.raises(RenderError) as e:
        render(helm, *args)
    assert message in str(e.value)


def test_mlflow_service_type_cannot_be_changed(helm: str) -> None:
    docs = render(helm, "-f", str(CHART / "ci" / "default-values.yaml"),
                  "--set", "mlflow.service.type=LoadBalancer", "--set", "gateway.service.type=LoadBalancer")
    assert one(docs, "Service", "-mlflow")["spec"]["type"] == "ClusterIP"
    assert one(docs, "Service", "-gateway")["spec"]["type"] == "LoadBalancer"


def _leaves(d: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        path = f"{prefix}.{k}" if prefix else k
        out += _leaves(v, path) if isinstance(v, dict) and v else [path]
    return out


def test_every_value_is_documented() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    documented = set(re.findall(r"`([A-Za-z][A-Za-z0-9.]*)`", readme))
    missing = [
        p for p in _leaves(values)
        if not any(p == d or p.startswith(d + ".") for d in documented)
    ]
    assert missing == [], "values.yaml keys missing from the chart README's table"
    # And values.yaml has a comment on (or above) each top-level group's keys.
    text = (CHART / "values.yaml").read_text()
    assert text.count("# ") > 60


@pytest.mark.parametrize("values", [p.name for p in CI_VALUES])
def test_gateway_environment_passes_check_config(helm: str, values: str, tmp_path: Path) -> None:
    """The rendered gateway environment (secret references filled with test
    values) is a configuration the gateway accepts without a warning: a
    misspelt variable or a bad value fails here, not in the cluster."""
    docs = render(helm, "-f", str(CHART / "ci" / values))
    container = one(docs, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0]
    env = {}
    for name, e in env_of(container).items():
        if "value" in e:
            env[name] = str(e["value"])
        elif name == "MLFLOW_DESCOPE_AUDIT_DB":
            env[name] = "postgres://gateway:pw@db:5432/gateway"
        elif name.startswith(("MLFLOW_", "DESCOPE_")):
            env[name] = "s" * 40
    if "DESCOPE_ROLE_MAPPING_FILE" in env:
        roles = tmp_path / "roles.json"
        roles.write_text(one(docs, "ConfigMap", "-gateway-roles")["data"]["roles.json"])
        env["DESCOPE_ROLE_MAPPING_FILE"] = str(roles)
    check_config(env, tmp_path)
