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

{{- /* TLS is on with tls.enabled, or (as before it existed) a tls.secretName. */ -}}
{{- define "dittofs-hook.tls" -}}
{{- if or .Values.tls.enabled .Values.tls.secretName }}true{{ end -}}
{{- end -}}

{{- define "dittofs-hook.tlsSecret" -}}
{{- .Values.tls.secretName | default (printf "%s-tls" (include "dittofs-hook.fullname" .)) -}}
{{- end -}}

{{- define "dittofs-hook.tokenSecret" -}}
{{- .Values.authToken.secretName | default (printf "%s-token" (include "dittofs-hook.fullname" .)) -}}
{{- end -}}

{{- define "dittofs-hook.url" -}}
{{- $scheme := ternary "https" "http" (eq (include "dittofs-hook.tls" .) "true") -}}
{{- printf "%s://%s.%s.svc.cluster.local" $scheme (include "dittofs-hook.fullname" .) .Release.Namespace -}}
{{- end -}}
