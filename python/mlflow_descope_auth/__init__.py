"""mlflow-descope-auth's Python package.

Server side: the MLflow plugin. The gateway signs a short-lived identity assertion
for every request it forwards; this package verifies it inside MLflow's basic-auth
RBAC engine and names the user. Nothing else: MLflow decides every permission.

Client side: ``login(url)`` (and ``python -m mlflow_descope_auth login URL``) signs
in with the browser and gives the MLflow client a personal access key.
"""

from mlflow_descope_auth.assertion import (
    HEADER,
    MIN_SECRET_LEN,
    BadSignature,
    Claims,
    Expired,
    InvalidAssertion,
    Malformed,
    sign,
    verify,
)
from mlflow_descope_auth.signin import Credentials, LoginError, login

__all__ = [
    "Credentials",
    "LoginError",
    "login",
    "HEADER",
    "MIN_SECRET_LEN",
    "BadSignature",
    "Claims",
    "Expired",
    "InvalidAssertion",
    "Malformed",
    "sign",
    "verify",
]
