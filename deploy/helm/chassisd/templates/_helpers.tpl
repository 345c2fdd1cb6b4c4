{{/* The chart name, or nameOverride. */}}
{{- define "chassisd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of the Deployment, ServiceAccount, Service and prefix of the RBAC objects: the release
name when it already contains the chart name ("chassisd" -> "chassisd"), else
<release>-<chart>. 55 characters leave room for the longest suffix ("-leader-election").
*/}}
{{- define "chassisd.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 47 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "chassisd.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "chassisd.labels" -}}
helm.sh/chart: {{ include "chassisd.chart" . }}
{{ include "chassisd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chassisd
{{- end }}

{{- define "chassisd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chassisd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "chassisd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chassisd.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "chassisd.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "chassisd.leaseName" -}}
{{- .Values.leaderElection.leaseName | default (printf "%s-leader" (include "chassisd.fullname" .)) }}
{{- end }}

{{/* The watch namespace, or the release namespace when chassisd watches every namespace. */}}
{{- define "chassisd.homeNamespace" -}}
{{- .Values.watchNamespace | default .Release.Namespace }}
{{- end }}

{{/* JSON list of the namespaces chassisd writes DhcpHosts and kubefarm ConfigMaps in. */}}
{{- define "chassisd.dhcpNamespaces" -}}
{{- .Values.dhcpNamespaces | default (list (include "chassisd.homeNamespace" .)) | uniq | toJson }}
{{- end }}

{{/* JSON list of the namespaces chassisd reads its Secrets in. */}}
{{- define "chassisd.secretNamespaces" -}}
{{- .Values.secretNamespaces | default (list (include "chassisd.homeNamespace" .)) | uniq | toJson }}
{{- end }}

{{/* A subject list naming chassisd's ServiceAccount. */}}
{{- define "chassisd.subjects" -}}
- kind: ServiceAccount
  name: {{ include "chassisd.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}
