"""Print every HTTP route of the installed MLflow server as JSON.

Usage: python dump_routes.py > mlflow-routes.json

It builds the same application `mlflow server --app-name basic-auth` serves under
uvicorn: MLflow's Flask app with the basic-auth routes added, wrapped in MLflow's
FastAPI app. Every route is printed once per (source, path) with its methods and
endpoint name. Nothing is served and nothing is sent anywhere; the auth database is
a throwaway SQLite file in a temporary directory.
"""

import json
import os
import sys
import tempfile


def _prepare_environment(tmp: str) -> None:
    ini = os.path.join(tmp, "auth.ini")
    with open(ini, "w") as f:
        f.write(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = sqlite:///{os.path.join(tmp, 'auth.db')}\n"
            "admin_username = dump-routes-admin\n"
            "admin_password = dump-routes-not-a-secret\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
    os.environ.pop("_MLFLOW_STATIC_PREFIX", None)
    os.environ["MLFLOW_AUTH_CONFIG_PATH"] = ini
    os.environ["MLFLOW_FLASK_SERVER_SECRET_KEY"] = "dump-routes"
    os.environ["MLFLOW_AUTH_ADMIN_USERNAME"] = "dump-routes-admin"
    os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = "dump-routes-not-a-secret"
    os.environ["_MLFLOW_SGI_NAME"] = "uvicorn"
    os.environ["MLFLOW_BACKEND_STORE_URI"] = f"sqlite:///{os.path.join(tmp, 'mlflow.db')}"


def _flask_routes(flask_app):
    out = []
    for rule in flask_app.url_map.iter_rules():
        methods = sorted(m for m in rule.methods if m not in ("HEAD", "OPTIONS"))
        out.append({
            "source": "flask",
            "path": rule.rule,
            "methods": methods,
            "endpoint": rule.endpoint,
        })
    return out


def _is_repeated(field):
    try:
        return bool(field.is_repeated)
    except AttributeError:
        return field.label == field.LABEL_REPEATED


def _rpc_index():
    """Map (path, method) of every protobuf-declared endpoint to its RPC.

    Each RPC is described by its service, method name and the top-level fields of
    its request message (proto name, JSON name, repeated or not), which is what
    MLflow's handlers read from the query string or the JSON body.
    """
    from mlflow.protos import databricks_pb2
    from mlflow.protos.mlflow_artifacts_pb2 import MlflowArtifactsService
    from mlflow.protos.model_registry_pb2 import ModelRegistryService
    from mlflow.protos.service_pb2 import MlflowService
    from mlflow.protos.webhooks_pb2 import WebhookService
    from mlflow.server.handlers import _get_paths

    index = {}
    for service in (MlflowService, ModelRegistryService, MlflowArtifactsService, WebhookService):
        for method in service.DESCRIPTOR.methods:
            fields = [
                {
                    "name": f.name,
                    "json_name": f.json_name,
                    "repeated": _is_repeated(f),
                }
                for f in method.input_type.fields
            ]
            for endpoint in method.GetOptions().Extensions[databricks_pb2.rpc].endpoints:
                for path in _get_paths(endpoint.path, version=endpoint.since.major):
                    index[(path, endpoint.method)] = {
                        "service": service.DESCRIPTOR.name,
                        "rpc": method.name,
                        "fields": fields,
                    }
    return index


def _annotate(routes, index):
    for r in routes:
        if r["source"] != "flask" or len(r["methods"]) != 1:
            continue
        info = index.get((r["path"], r["methods"][0]))
        if info is not None:
            r.update(info)


def _fastapi_routes(fastapi_app):
    out = []
    _walk_asgi_routes(fastapi_app.routes, out)
    return out


def _walk_asgi_routes(routes, out):
    from starlette.routing import Mount

    for route in routes:
        # FastAPI >= 0.16x keeps included routers as lazy groups.
        if hasattr(route, "effective_candidates"):
            _walk_asgi_routes(route.effective_candidates(), out)
            continue
        if isinstance(route, Mount):
            out.append({
                "source": "fastapi-mount",
                "path": route.path or "/",
                "methods": [],
                "endpoint": type(route.app).__name__,
            })
            continue
        inner = getattr(route, "starlette_route", None) or route
        path = getattr(route, "path", "") or getattr(inner, "path", "")
        methods = getattr(route, "methods", None) or getattr(inner, "methods", None) or []
        endpoint = getattr(route, "endpoint", None) or getattr(inner, "endpoint", None)
        kind = "fastapi" if methods else "fastapi-" + type(inner).__name__
        out.append({
            "source": kind,
            "path": path,
            "methods": sorted(m for m in methods if m != "HEAD"),
            "endpoint": getattr(endpoint, "__name__", type(inner).__name__),
        })


def main() -> int:
    try:
        import prometheus_flask_exporter  # noqa: F401
    except ImportError:
        sys.stderr.write(
            "dump_routes.py: prometheus-flask-exporter is not installed; it is needed to see "
            "the /metrics route of `mlflow server --expose-prometheus`\n"
        )
        return 3
    with tempfile.TemporaryDirectory() as tmp:
        _prepare_environment(tmp)
        # `mlflow server --expose-prometheus DIR` sets this variable and the exporter
        # (prometheus-flask-exporter) adds /metrics. Importing anything under
        # mlflow.server builds the app, so the name is spelled out here.
        os.environ["prometheus_multiproc_dir"] = os.path.join(tmp, "prometheus")
        os.makedirs(os.environ["prometheus_multiproc_dir"])

        import mlflow
        from mlflow.server import app as flask_app
        from mlflow.server.auth import create_app

        asgi_app = create_app(flask_app)
        routes = _flask_routes(flask_app)
        _annotate(routes, _rpc_index())
        if asgi_app is not flask_app:
            routes += _fastapi_routes(asgi_app)

    seen = set()
    unique = []
    for r in routes:
        key = (r["source"], r["path"], tuple(r["methods"]), r["endpoint"])
        if key in seen:
            continue
        seen.add(key)
        unique.append(r)
    unique.sort(key=lambda r: (r["path"], r["source"], r["methods"], r["endpoint"]))
    json.dump({"mlflow_version": mlflow.__version__, "routes": unique}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
