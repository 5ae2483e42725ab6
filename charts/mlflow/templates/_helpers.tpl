{{/* Chart name, overridable. */}}
{{- define "mlflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name (fastapi-dev) when it already contains the chart name. */}}
{{- define "mlflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mlflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mlflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mlflow.labels" -}}
helm.sh/chart: {{ include "mlflow.chart" . }}
{{ include "mlflow.selectorLabels" . }}
app.kubernetes.io/version: {{ include "mlflow.imageTag" . | quote }}
app.kubernetes.io/component: tracking-server
app.kubernetes.io/part-of: mlops-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mlflow.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "mlflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mlflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}


{{- define "mlflow.tlsSecretName" -}}
{{- .Values.ingress.tls.secretName | default (printf "%s-tls" (include "mlflow.fullname" .)) }}
{{- end }}

{{/* The Service name every component uses: <release>-service, so the seed FQDN mlflow-<env>-service holds. */}}
{{- define "mlflow.serviceName" -}}
{{- printf "%s-service" (include "mlflow.fullname" .) }}
{{- end }}

{{/*
Host headers MLflow accepts: the Service by every in-cluster DNS form, bare and with its port (clients send
"host:5000"), the ingress host, localhost for `kubectl port-forward`, and any extras.
*/}}
{{- define "mlflow.allowedHosts" -}}
{{- $service := include "mlflow.serviceName" . }}
{{- $hosts := list }}
{{- range $name := list $service (printf "%s.%s" $service .Release.Namespace) (printf "%s.%s.svc" $service .Release.Namespace) (printf "%s.%s.svc.cluster.local" $service .Release.Namespace) }}
{{- $hosts = append $hosts $name }}
{{- $hosts = append $hosts (printf "%s:%d" $name (int $.Values.service.port)) }}
{{- end }}
{{- if .Values.ingress.enabled }}
{{- $hosts = append $hosts .Values.ingress.host }}
{{- end }}
{{- $hosts = concat $hosts (list "localhost" "localhost:*" "127.0.0.1:*") .Values.server.extraAllowedHosts }}
{{- join "," $hosts }}
{{- end }}

{{/*
The egress rules of networkPolicy.egress, one per destination (in key order): to the pods of its namespaces
(by kubernetes.io/metadata.name, narrowed by podLabels) and to its CIDRs (minus except), on each of its ports
over each of its protocols (TCP when unset). A destination with neither namespaces nor cidrs renders nothing,
so that traffic stays refused. The three charts carry the same definition (tests/charts holds them so).
*/}}
{{- define "mlflow.egressRules" -}}
{{- range $name, $destination := .Values.networkPolicy.egress }}
{{- if or $destination.namespaces $destination.cidrs }}
# networkPolicy.egress.{{ $name }}
- to:
    {{- range $destination.namespaces }}
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ . }}
      {{- with $destination.podLabels }}
      podSelector:
        matchLabels:
          {{- toYaml . | nindent 10 }}
      {{- end }}
    {{- end }}
    {{- range $destination.cidrs }}
    - ipBlock:
        cidr: {{ . }}
        {{- with $destination.except }}
        except:
          {{- toYaml . | nindent 10 }}
        {{- end }}
    {{- end }}
  ports:
    {{- range $port := $destination.ports }}
    {{- range $protocol := $destination.protocols | default (list "TCP") }}
    - port: {{ $port }}
      protocol: {{ $protocol }}
    {{- end }}
    {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The basic-auth app's admin, from the auth Secret (MLflow reads these over the config file). */}}
{{- define "mlflow.adminEnv" -}}
{{- range $key := list "MLFLOW_AUTH_ADMIN_USERNAME" "MLFLOW_AUTH_ADMIN_PASSWORD" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.auth.secret }}
      key: {{ $key }}
{{- end }}
{{- end }}

{{/* The users Job's pod labels: not the server's selector labels, so the Service never routes to it. */}}
{{- define "mlflow.usersSelectorLabels" -}}
app.kubernetes.io/name: {{ include "mlflow.name" . }}-users
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: create-users
{{- end }}
