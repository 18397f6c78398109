#!/bin/sh
# First start of the Compose PostgreSQL (docker-entrypoint-initdb.d): one role
# for MLflow (tracking and auth databases) and one for the gateway (audit log,
# signed-out sessions, blocked users). Passwords come from deploy/.env.
set -eu
psql -v ON_ERROR_STOP=1 --username postgres \
  -v mlflow_pw="$MLFLOW_DB_PASSWORD" -v gateway_pw="$GATEWAY_DB_PASSWORD" <<'SQL'
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_pw';
CREATE ROLE gateway LOGIN PASSWORD :'gateway_pw';
CREATE DATABASE mlflow OWNER mlflow;
CREATE DATABASE mlflow_auth OWNER mlflow;
CREATE DATABASE gateway OWNER gateway;
SQL
