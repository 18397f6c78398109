package config

import "github.com/mlflow-descope-auth/mlflow-descope-auth/internal/redact"

// Secret holds a credential; it never prints itself, so a Config can be
// logged or dumped safely.
type Secret = redact.Secret
