"""MLflow server plugin for mlflow-descope-auth.

The gateway signs a short-lived identity assertion for every request it forwards;
this package verifies it inside MLflow's basic-auth RBAC engine and names the user.
Nothing else: MLflow decides every permission.
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

__all__ = [
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
