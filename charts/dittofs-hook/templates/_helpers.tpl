{{- define "dittofs-hook.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dittofs-hook.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dittofs-hook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dittofs-hook.name" . }}
{{- end -}}

{{- define "dittofs-hook.labels" -}}
{{ include "dittofs-hook.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dittofs-hook
app.kubernetes.io/component: hook
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "dittofs-hook.url" -}}
{{- $scheme := ternary "https" "http" (ne .Values.tls.secretName "") -}}
{{- printf "%s://%s.%s.svc.cluster.local" $scheme (include "dittofs-hook.fullname" .) .Release.Namespace -}}
{{- end -}}
