{{/* Names */}}
{{- define "gofast.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gofast.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "gofast.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gofast.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gofast.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controlplane
{{- end }}

{{- define "gofast.labels" -}}
helm.sh/chart: {{ include "gofast.chart" . }}
app.kubernetes.io/name: {{ include "gofast.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gofast
{{- end }}

{{- define "gofast.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gofast.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The apps' namespace; it cannot be the release's own when the chart creates it. */}}
{{- define "gofast.appsNamespace" -}}
{{- $ns := required "apps.namespace must be set" .Values.apps.namespace }}
{{- if and .Values.apps.createNamespace (eq $ns .Release.Namespace) }}
{{- fail (printf "apps.namespace %q is the release namespace; set apps.createNamespace=false or use another namespace" $ns) }}
{{- end }}
{{- $ns }}
{{- end }}

{{/* Images: the tag defaults to the chart's appVersion. */}}
{{- define "gofast.controlplaneImage" -}}
{{- printf "%s:%s" .Values.controlplane.image.repository (default .Chart.AppVersion .Values.controlplane.image.tag) }}
{{- end }}

{{- define "gofast.runnerImage" -}}
{{- printf "%s:%s" .Values.runner.image.repository (default .Chart.AppVersion .Values.runner.image.tag) }}
{{- end }}

{{- define "gofast.publicUrl" -}}
{{- if .Values.publicUrl }}
{{- .Values.publicUrl | trimSuffix "/" }}
{{- else if .Values.ingress.host }}
{{- printf "%s://%s" (ternary "https" "http" (not (empty .Values.ingress.tls))) .Values.ingress.host }}
{{- else }}
{{- "http://localhost" }}
{{- end }}
{{- end }}

{{- define "gofast.appsUrl" -}}
{{- if and .Values.ingress.host (not .Values.ingress.appsHost) (not .Values.appsUrl) }}
{{- fail "ingress.appsHost is required with ingress.host: apps need a host of their own (e.g. apps.example.com)" }}
{{- end }}
{{- if and .Values.ingress.appsHost (eq .Values.ingress.appsHost .Values.ingress.host) }}
{{- fail "ingress.appsHost must differ from ingress.host: apps must never share the platform's origin" }}
{{- end }}
{{- if .Values.appsUrl }}
{{- .Values.appsUrl | trimSuffix "/" }}
{{- else if .Values.ingress.appsHost }}
{{- printf "%s://%s" (ternary "https" "http" (not (empty .Values.ingress.tls))) .Values.ingress.appsHost }}
{{- end }}
{{- end }}

{{/* Secrets: the chart's own Secret unless both values come from existing ones. */}}
{{- define "gofast.secretName" -}}
{{- include "gofast.fullname" . }}
{{- end }}

{{- define "gofast.mongodbSecretName" -}}
{{- default (include "gofast.secretName" .) .Values.mongodb.existingSecret }}
{{- end }}

{{- define "gofast.mongodbSecretKey" -}}
{{- if .Values.mongodb.existingSecret }}{{ .Values.mongodb.existingSecretKey }}{{ else }}mongodb-uri{{ end }}
{{- end }}

{{- define "gofast.jwtSecretName" -}}
{{- default (include "gofast.secretName" .) .Values.jwt.existingSecret }}
{{- end }}

{{- define "gofast.jwtSecretKey" -}}
{{- if .Values.jwt.existingSecret }}{{ .Values.jwt.existingSecretKey }}{{ else }}jwt-secret{{ end }}
{{- end }}

{{- define "gofast.ownSecret" -}}
{{- if or (not .Values.mongodb.existingSecret) (not .Values.jwt.existingSecret) }}true{{ end }}
{{- end }}

{{/* The JWT secret, base64: the given one, else the one this release made before
     (so tokens stay valid across upgrades), else a new random one. */}}
{{- define "gofast.jwtSecretB64" -}}
{{- if .Values.jwt.secret }}
{{- .Values.jwt.secret | b64enc }}
{{- else }}
{{- $old := lookup "v1" "Secret" .Release.Namespace (include "gofast.secretName" .) }}
{{- if and $old $old.data (hasKey $old.data "jwt-secret") }}
{{- index $old.data "jwt-secret" }}
{{- else }}
{{- randAlphaNum 64 | b64enc }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gofast.mongodbUri" -}}
{{- $uri := required "set mongodb.uri (mongodb://...) or mongodb.existingSecret" .Values.mongodb.uri }}
{{- if not (or (hasPrefix "mongodb://" $uri) (hasPrefix "mongodb+srv://" $uri)) }}
{{- fail "mongodb.uri must start with mongodb:// or mongodb+srv://" }}
{{- end }}
{{- $uri }}
{{- end }}

{{/* apps.nodeSelector as "k1=v1,k2=v2" (GOFAST_KUBE_NODE_SELECTOR). */}}
{{- define "gofast.nodeSelectorList" -}}
{{- $pairs := list -}}
{{- range $k, $v := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
