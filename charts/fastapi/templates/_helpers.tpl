{{/* Chart name, overridable. */}}
{{- define "fastapi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name (fastapi-dev) when it already contains the chart name. */}}
{{- define "fastapi.fullname" -}}
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

{{- define "fastapi.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fastapi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fastapi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "fastapi.labels" -}}
helm.sh/chart: {{ include "fastapi.chart" . }}
{{ include "fastapi.selectorLabels" . }}
app.kubernetes.io/version: {{ include "fastapi.imageTag" . | quote }}
app.kubernetes.io/component: serving
app.kubernetes.io/part-of: mlops-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "fastapi.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "fastapi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fastapi.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The headless Service the pipeline resolves to reach every ready replica. */}}
{{- define "fastapi.headlessName" -}}
{{- printf "%s-headless" (include "fastapi.fullname" .) }}
{{- end }}

{{- define "fastapi.tlsSecretName" -}}
{{- .Values.ingress.tls.secretName | default (printf "%s-tls" (include "fastapi.fullname" .)) }}
{{- end }}

{{/*
The egress rules of networkPolicy.egress, one per destination (in key order): to the pods of its namespaces
(by kubernetes.io/metadata.name, narrowed by podLabels) and to its CIDRs (minus except), on each of its ports
over each of its protocols (TCP when unset). A destination with neither namespaces nor cidrs renders nothing,
so that traffic stays refused. The three charts carry the same definition (tests/charts holds them so).
*/}}
{{- define "fastapi.egressRules" -}}
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
