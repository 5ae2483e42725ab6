{{/* Chart name, overridable. */}}
{{- define "airflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name prefix: the release name (airflow-dev) when it already contains the chart name. */}}
{{- define "airflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "airflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "airflow.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The one image every container runs: Airflow, the pipeline's libraries and the DAGs. */}}
{{- define "airflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "airflow.imageTag" .) }}
{{- end }}

{{/* Selector labels of one component; call with (dict "root" $ "component" "scheduler"). */}}
{{- define "airflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "airflow.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of one component's objects; call with (dict "root" $ "component" "scheduler"). */}}
{{- define "airflow.labels" -}}
helm.sh/chart: {{ include "airflow.chart" .root }}
{{ include "airflow.selectorLabels" . }}
app.kubernetes.io/version: {{ include "airflow.imageTag" .root | quote }}
app.kubernetes.io/part-of: mlops-platform
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "airflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "airflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "airflow.apiServerName" -}}
{{- printf "%s-api-server" (include "airflow.fullname" .) }}
{{- end }}

{{- define "airflow.tlsSecretName" -}}
{{- .Values.ingress.tls.secretName | default (printf "%s-tls" (include "airflow.fullname" .)) }}
{{- end }}

{{- define "airflow.baseUrl" -}}
{{- if .Values.airflow.baseUrl }}
{{- .Values.airflow.baseUrl }}
{{- else if .Values.ingress.enabled }}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host }}
{{- else }}
{{- printf "http://%s:%d" (include "airflow.apiServerName" .) (int .Values.service.port) }}
{{- end }}
{{- end }}

{{/* Settings every Airflow process needs: executor, folders, database, the shared API secrets. */}}
{{- define "airflow.coreEnv" -}}
- name: AIRFLOW_HOME
  value: /home/airflow
- name: AIRFLOW__CORE__EXECUTOR
  value: LocalExecutor
- name: AIRFLOW__CORE__DAGS_FOLDER
  value: /opt/airflow/dags
- name: AIRFLOW__CORE__LOAD_EXAMPLES
  value: "False"
- name: AIRFLOW__CORE__PARALLELISM
  value: {{ .Values.airflow.parallelism | quote }}
# Task processes report to the api-server inside the cluster, not through the whitelisted ingress.
- name: AIRFLOW__CORE__EXECUTION_API_SERVER_URL
  value: {{ printf "http://%s:%d/execution/" (include "airflow.apiServerName" .) (int .Values.service.port) | quote }}
# Pod names do not resolve; the api-server fetches task logs from the scheduler pod by IP.
- name: AIRFLOW__CORE__HOSTNAME_CALLABLE
  value: airflow.utils.net.get_host_ip_address
- name: AIRFLOW__API__BASE_URL
  value: {{ include "airflow.baseUrl" . | quote }}
# Users and roles in the metadata DB (FAB provider); the default SimpleAuthManager is for development only.
- name: AIRFLOW__CORE__AUTH_MANAGER
  value: airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager
{{- range $name, $value := .Values.airflow.extraConfig }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
- name: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.metadataDb.name }}
      key: {{ .Values.secrets.metadataDb.key }}
- name: AIRFLOW__API__SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.apiSecrets.name }}
      key: AIRFLOW__API__SECRET_KEY
- name: AIRFLOW__API_AUTH__JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.apiSecrets.name }}
      key: AIRFLOW__API_AUTH__JWT_SECRET
{{- end }}

{{/* What the pipeline's tasks and callbacks read (see charts/airflow/dags/mlpipeline). */}}
{{- define "airflow.pipelineEnv" -}}
- name: MLFLOW_TRACKING_URI
  value: {{ .Values.pipeline.mlflowTrackingUri | quote }}
{{- range $key := list "MLFLOW_TRACKING_USERNAME" "MLFLOW_TRACKING_PASSWORD" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.secrets.mlflowCredentials.name }}
      key: {{ $key }}
      optional: {{ $.Values.secrets.mlflowCredentials.optional }}
{{- end }}
- name: SERVING_REPLICAS
  value: {{ .Values.pipeline.servingReplicas | quote }}
- name: SLACK_TIMEOUT_SECONDS
  value: {{ .Values.pipeline.slackTimeoutSeconds | toString | quote }}
{{- with .Values.pipeline.release }}
- name: RELEASE_STEPS
  value: {{ join "," .steps | quote }}
- name: RELEASE_STEP_SECONDS
  value: {{ .stepSeconds | toString | quote }}
- name: RELEASE_MIN_REQUESTS
  value: {{ .minRequests | toString | quote }}
- name: RELEASE_MAX_ERROR_RATE
  value: {{ .maxErrorRate | toString | quote }}
- name: RELEASE_MAX_P99_RATIO
  value: {{ .maxP99Ratio | toString | quote }}
- name: RELEASE_QUALITY_MARGIN
  value: {{ .qualityMargin | toString | quote }}
- name: RELEASE_CONVERGE_SECONDS
  value: {{ .convergeSeconds | toString | quote }}
{{- end }}
{{- range $name, $value := .Values.pipeline.variables }}
- name: AIRFLOW_VAR_{{ upper $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .Values.secrets.reloadToken }}
- name: RELOAD_SECRET_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .key }}
      optional: {{ .optional }}
{{- end }}
{{- with .Values.secrets.slackWebhook }}
- name: SLACK_WEBHOOK_URL
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .key }}
      optional: {{ .optional }}
{{- end }}
{{- end }}

{{- define "airflow.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "airflow.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The read-only image gets a writable AIRFLOW_HOME (config, task logs) and /tmp. */}}
{{- define "airflow.volumeMounts" -}}
- name: home
  mountPath: /home/airflow
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "airflow.volumes" -}}
- name: home
  emptyDir:
    sizeLimit: 1Gi
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- end }}

{{- define "airflow.podPlacement" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The init container every component starts with: it holds the pod until the db-migrate Job has brought the
schema up to date, so no component runs against an older schema.
*/}}
{{- define "airflow.waitForMigrationsContainer" -}}
- name: wait-for-migrations
  image: {{ include "airflow.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["airflow", "db", "check-migrations", "--migration-wait-timeout", {{ .Values.migrations.timeoutSeconds | quote }}]
  env:
    {{- include "airflow.coreEnv" . | nindent 4 }}
  resources:
    {{- toYaml .Values.migrations.resources | nindent 4 }}
  securityContext:
    {{- include "airflow.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
    {{- include "airflow.volumeMounts" . | nindent 4 }}
{{- end }}

{{/*
The egress rules of networkPolicy.egress, one per destination (in key order): to the pods of its namespaces
(by kubernetes.io/metadata.name, narrowed by podLabels) and to its CIDRs (minus except), on each of its ports
over each of its protocols (TCP when unset). A destination with neither namespaces nor cidrs renders nothing,
so that traffic stays refused. The three charts carry the same definition (tests/charts holds them so).
*/}}
{{- define "airflow.egressRules" -}}
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
