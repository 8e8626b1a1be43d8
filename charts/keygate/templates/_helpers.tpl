{{/* Names. The default fullname is the release name when it already says "keygate". */}}
{{- define "keygate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "keygate.fullname" -}}
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

{{- define "keygate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "keygate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "keygate.webhookService" -}}
{{- printf "%s-webhook" (include "keygate.fullname" .) }}
{{- end }}

{{- define "keygate.webhookSecret" -}}
{{- if eq .Values.webhook.tls.mode "secret" }}
{{- required "webhook.tls.secret.name is required with webhook.tls.mode=secret" .Values.webhook.tls.secret.name }}
{{- else }}
{{- printf "%s-webhook-tls" (include "keygate.fullname" .) }}
{{- end }}
{{- end }}

{{- define "keygate.cryptoService" -}}
{{- printf "%s-crypto" (include "keygate.fullname" .) }}
{{- end }}

{{- define "keygate.cryptoSecret" -}}
{{- if eq .Values.dataPlane.tls.mode "secret" }}
{{- required "dataPlane.tls.secret.name is required with dataPlane.tls.mode=secret" .Values.dataPlane.tls.secret.name }}
{{- else }}
{{- printf "%s-crypto-tls" (include "keygate.fullname" .) }}
{{- end }}
{{- end }}

{{/* dataPlane.serveOn, defaulted: every replica serves when there are several. */}}
{{- define "keygate.serveOn" -}}
{{- default (ternary "leader" "all" (eq (int .Values.replicaCount) 1)) .Values.dataPlane.serveOn }}
{{- end }}

{{- define "keygate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keygate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "keygate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "keygate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: keygate
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "keygate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The operator's config.yaml: the user's `config` plus what the chart owns (ports, paths,
namespace). Refuses the fields the chart sets, and replica settings that cannot work.
*/}}
{{- define "keygate.config" -}}
{{- range $k := list "metrics" "health" "webhook" "operatorNamespace" "stateDir" }}
{{- if hasKey $.Values.config $k }}
{{- fail (printf "config.%s: set by the chart (use metrics.port, health.port, webhook.*, the release namespace and persistence.*); remove it from config" $k) }}
{{- end }}
{{- end }}
{{- if hasKey .Values.config "dataPlane" }}
{{- range $k, $v := dict "bindAddress" "dataPlane.port" "certFile" "dataPlane.tls" "keyFile" "dataPlane.tls" "serveOn" "dataPlane.serveOn" "clientCAFile" "dataPlane.clientCA" }}
{{- if hasKey (default dict $.Values.config.dataPlane) $k }}
{{- fail (printf "config.dataPlane.%s: set by the chart (use %s); remove it from config" $k $v) }}
{{- end }}
{{- end }}
{{- if not .Values.dataPlane.enabled }}
{{- fail "config.dataPlane: the crypto API is off (dataPlane.enabled=false); remove config.dataPlane or set dataPlane.enabled=true" }}
{{- end }}
{{- end }}
{{- $cfg := deepCopy .Values.config }}
{{- $le := default dict (get $cfg "leaderElection") }}
{{- if not (hasKey $le "leaseName") }}{{ $_ := set $le "leaseName" (printf "%s-leader" (include "keygate.fullname" .)) }}{{ end }}
{{- $_ := set $cfg "leaderElection" $le }}
{{- $_ := set $cfg "metrics" (dict "bindAddress" (printf ":%d" (int .Values.metrics.port))) }}
{{- $health := dict "bindAddress" (printf ":%d" (int .Values.health.port)) "backendProbeInterval" (toString .Values.health.backendProbeInterval) "driftScanInterval" (toString .Values.health.driftScanInterval) }}
{{- if hasKey .Values.health "straySweepInterval" }}{{ $_ := set $health "straySweepInterval" (toString .Values.health.straySweepInterval) }}{{ end }}
{{- if hasKey .Values.health "strayGracePeriod" }}{{ $_ := set $health "strayGracePeriod" (toString .Values.health.strayGracePeriod) }}{{ end }}
{{- with .Values.health.firstDescribeRateLimit }}{{ $_ := set $health "firstDescribeRateLimit" (dict "qps" (int .qps) "burst" (int .burst)) }}{{ end }}
{{- $_ := set $cfg "health" $health }}
{{- $_ := set $cfg "byok" (dict "importWindow" (toString .Values.byok.importWindow)) }}
{{- $wh := dict "bindAddress" (printf ":%d" (int .Values.webhook.port)) "certFile" "/etc/keygate/webhook/tls.crt" "keyFile" "/etc/keygate/webhook/tls.key" }}
{{- with .Values.webhook.clientCA }}
{{- if .secretName }}
{{- $_ := set $wh "clientCAFile" (printf "/etc/keygate/webhook-client-ca/%s" .key) }}
{{- with .allowedNames }}{{ $_ := set $wh "allowedClientNames" . }}{{ end }}
{{- else if .allowedNames }}
{{- fail "webhook.clientCA.allowedNames needs webhook.clientCA.secretName (the names are checked on client certificates from that CA)" }}
{{- end }}
{{- end }}
{{- $_ := set $cfg "webhook" $wh }}
{{- if .Values.dataPlane.enabled }}
{{- $dp := default dict (get $cfg "dataPlane") }}
{{- $_ := set $dp "bindAddress" (printf ":%d" (int .Values.dataPlane.port)) }}
{{- $_ := set $dp "certFile" "/etc/keygate/crypto/tls.crt" }}
{{- $_ := set $dp "keyFile" "/etc/keygate/crypto/tls.key" }}
{{- $_ := set $dp "serveOn" (include "keygate.serveOn" .) }}
{{- if .Values.dataPlane.clientCA.secretName }}
{{- $_ := set $dp "clientCAFile" (printf "/etc/keygate/crypto-client-ca/%s" .Values.dataPlane.clientCA.key) }}
{{- end }}
{{- $_ := set $cfg "dataPlane" $dp }}
{{- end }}
{{- $_ := set $cfg "operatorNamespace" .Release.Namespace }}
{{- $_ := set $cfg "stateDir" "/var/lib/keygate" }}
{{- toYaml $cfg }}
{{- end }}

{{- define "keygate.validate" -}}
{{- $ports := list (int .Values.webhook.port) (int .Values.metrics.port) (int .Values.health.port) }}
{{- if .Values.dataPlane.enabled }}
{{- $ports = append $ports (int .Values.dataPlane.port) }}
{{- if ne (len (uniq $ports)) 4 }}
{{- fail (printf "webhook.port, metrics.port, health.port and dataPlane.port must differ (got %d, %d, %d, %d)" (int .Values.webhook.port) (int .Values.metrics.port) (int .Values.health.port) (int .Values.dataPlane.port)) }}
{{- end }}
{{- else if ne (len (uniq $ports)) 3 }}
{{- fail (printf "webhook.port, metrics.port and health.port must differ (got %d, %d, %d)" (int .Values.webhook.port) (int .Values.metrics.port) (int .Values.health.port)) }}
{{- end }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- $le := default dict .Values.config.leaderElection }}
{{- if and (hasKey $le "enabled") (not $le.enabled) }}
{{- fail (printf "replicaCount: %d replicas need config.leaderElection.enabled=true (else every replica reconciles)" (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.persistence.enabled (has "ReadWriteOnce" .Values.persistence.accessModes) }}
{{- fail (printf "replicaCount: %d replicas cannot share the ReadWriteOnce state volume that holds the embedded SoftHSM2 tokens; with a network HSM or KMIP set persistence.enabled=false, or use a ReadWriteMany claim" (int .Values.replicaCount)) }}
{{- end }}
{{- end }}
{{- end }}
