{{/* Resource names: <release>-<chart>, or the overrides. */}}
{{- define "mda.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mda.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mda.gateway.fullname" -}}
{{- printf "%s-gateway" (include "mda.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mda.mlflow.fullname" -}}
{{- printf "%s-mlflow" (include "mda.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mda.labels" -}}
app.kubernetes.io/name: {{ include "mda.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "mda.gateway.selector" -}}
app.kubernetes.io/name: {{ include "mda.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "mda.mlflow.selector" -}}
app.kubernetes.io/name: {{ include "mda.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: mlflow
{{- end -}}

{{/* An env entry read from the chart's Secret: name, key, optional. */}}
{{- define "mda.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* The MLflow URL the gateways use: the ClusterIP Service's cluster DNS name. */}}
{{- define "mda.mlflow.host" -}}
{{- printf "%s.%s.svc" (include "mda.mlflow.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* Checks that make a wrong install fail at render time, not at run time. */}}
{{- define "mda.validate" -}}
{{- if not .Values.gateway.publicUrl -}}
{{- fail "gateway.publicUrl is required: the https:// origin users reach" -}}
{{- end -}}
{{- if not .Values.gateway.descope.projectId -}}
{{- fail "gateway.descope.projectId is required" -}}
{{- end -}}
{{- if not .Values.secrets.name -}}
{{- fail "secrets.name is required: the Secret holding the assertion secret and database URLs" -}}
{{- end -}}
{{- range $k := list "assertionSecretKey" "mlflowBackendStoreUriKey" "mlflowAuthDatabaseUriKey" "mlflowFlaskSecretKeyKey" "mlflowAdminPasswordKey" -}}
{{- if not (index $.Values.secrets $k) -}}
{{- fail (printf "secrets.%s is required" $k) -}}
{{- end -}}
{{- end -}}
{{- if and (gt (int .Values.gateway.replicas) 1) (not .Values.secrets.auditDatabaseUrlKey) -}}
{{- fail "gateway.replicas > 1 needs secrets.auditDatabaseUrlKey (a PostgreSQL URL): replicas share sign-outs, blocked users and the audit log there" -}}
{{- end -}}
{{- if ne .Values.gateway.enableWorkspaces .Values.mlflow.enableWorkspaces -}}
{{- fail "gateway.enableWorkspaces and mlflow.enableWorkspaces must be equal" -}}
{{- end -}}
{{- if and (gt (int .Values.mlflow.replicas) 1) (not .Values.mlflow.artifacts.destination) (not (has "ReadWriteMany" .Values.mlflow.artifacts.persistence.accessModes)) -}}
{{- fail "mlflow.replicas > 1 needs a shared artifact store: mlflow.artifacts.destination or a ReadWriteMany claim" -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.host is required when ingress.enabled" -}}
{{- end -}}
{{- end -}}
