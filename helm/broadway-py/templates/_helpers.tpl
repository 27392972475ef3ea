{{/* Names ------------------------------------------------------------------ */}}

{{- define "broadway-py.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "broadway-py.fullname" -}}
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

{{- define "broadway-py.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "broadway-py.selectorLabels" -}}
app.kubernetes.io/name: {{ include "broadway-py.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "broadway-py.labels" -}}
helm.sh/chart: {{ include "broadway-py.chart" . }}
{{ include "broadway-py.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: pipeline
{{- end }}

{{- define "broadway-py.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "broadway-py.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "broadway-py.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The pipeline file -------------------------------------------------------- */}}

{{/* The text of pipeline.yaml: a string value verbatim, a mapping as YAML, null the demo. */}}
{{- define "broadway-py.pipelineText" -}}
{{- $config := .Values.pipeline.config }}
{{- if kindIs "invalid" $config }}
{{- .Files.Get "files/demo-pipeline.yaml" }}
{{- else if kindIs "string" $config }}
{{- $config }}
{{- else }}
{{- toYaml $config }}
{{- end }}
{{- end }}

{{/* shutdown.drain_timeout of the pipeline as whole seconds (rounded up); 30 if unset. */}}
{{- define "broadway-py.drainTimeout" -}}
{{- $config := include "broadway-py.pipelineText" . | fromYaml }}
{{- if hasKey $config "Error" }}
{{- fail (printf "pipeline.config is not valid YAML: %s" (get $config "Error")) }}
{{- end }}
{{- $shutdown := dict }}
{{- if and (hasKey $config "shutdown") (not (kindIs "invalid" $config.shutdown)) }}
{{- $shutdown = $config.shutdown }}
{{- end }}
{{- if not (kindIs "map" $shutdown) }}
{{- fail "pipeline.config: shutdown must be a mapping" }}
{{- end }}
{{- $drain := "" }}
{{- if hasKey $shutdown "drain_timeout" }}
{{- $drain = $shutdown.drain_timeout }}
{{- end }}
{{- if or (not (hasKey $shutdown "drain_timeout")) (kindIs "invalid" $drain) }}
{{- 30 }}
{{- else if or (kindIs "float64" $drain) (kindIs "int" $drain) (kindIs "int64" $drain) }}
{{- if lt (float64 $drain) 0.0 }}
{{- fail "pipeline.config: shutdown.drain_timeout must not be negative" }}
{{- end }}
{{- ceil $drain | int }}
{{- else }}
{{- fail (printf "pipeline.config: shutdown.drain_timeout is %q, not a number: the chart derives terminationGracePeriodSeconds from it; write a number, or set terminationGracePeriodSeconds" (toString $drain)) }}
{{- end }}
{{- end }}

{{/* Worker processes per pod: workers, else the pipeline file's workers when a number, else 1. */}}
{{- define "broadway-py.workers" -}}
{{- if not (kindIs "invalid" .Values.workers) }}
{{- .Values.workers | int }}
{{- else }}
{{- $config := include "broadway-py.pipelineText" . | fromYaml }}
{{- $workers := 1 }}
{{- if and (kindIs "map" $config) (hasKey $config "workers") }}
{{- $value := $config.workers }}
{{- if or (kindIs "float64" $value) (kindIs "int" $value) (kindIs "int64" $value) }}
{{- $workers = int $value }}
{{- end }}
{{- end }}
{{- $workers }}
{{- end }}
{{- end }}

{{/* A CPU quantity (100m, 0.5, 2) in millicores. */}}
{{- define "broadway-py.millicores" -}}
{{- $cpu := toString . }}
{{- if hasSuffix "m" $cpu }}
{{- trimSuffix "m" $cpu | int }}
{{- else }}
{{- mulf (float64 $cpu) 1000.0 | ceil | int }}
{{- end }}
{{- end }}

{{/* resources, with requests.cpu = workers x cpuPerWorker unless it is set. */}}
{{- define "broadway-py.resources" -}}
{{- $resources := deepCopy (.Values.resources | default dict) }}
{{- $requests := dict }}
{{- if and (hasKey $resources "requests") (kindIs "map" $resources.requests) }}
{{- $requests = $resources.requests }}
{{- end }}
{{- if not (hasKey $requests "cpu") }}
{{- $millicores := mul (include "broadway-py.workers" . | int) (include "broadway-py.millicores" .Values.cpuPerWorker | int) }}
{{- $_ := set $requests "cpu" (printf "%dm" $millicores) }}
{{- $_ := set $resources "requests" $requests }}
{{- end }}
{{- toYaml $resources }}
{{- end }}

{{/* The pod's grace period: drain timeout + margin + preStop sleep, unless set. */}}
{{- define "broadway-py.terminationGracePeriodSeconds" -}}
{{- if not (kindIs "invalid" .Values.terminationGracePeriodSeconds) }}
{{- .Values.terminationGracePeriodSeconds }}
{{- else }}
{{- add (include "broadway-py.drainTimeout" . | int) .Values.terminationGraceMarginSeconds .Values.lifecycle.preStopSleepSeconds }}
{{- end }}
{{- end }}

{{/* Checks the schema cannot express; rendered (as nothing) by the Deployment. */}}
{{- define "broadway-py.validate" -}}
{{- $fullname := include "broadway-py.fullname" . }}
{{- if not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $fullname) }}
{{- fail (printf "the resource name %q (from the release name, nameOverride or fullnameOverride) is not one Kubernetes accepts: use lower-case letters, digits and '-', starting with a letter (a Service name is an RFC 1035 label)" $fullname) }}
{{- end }}
{{- if .Values.admin.tokenSecret.name }}
{{- range .Values.env }}
{{- if eq .name "BROADWAY_ADMIN_TOKEN" }}
{{- fail "env: BROADWAY_ADMIN_TOKEN is set by admin.tokenSecret; remove it from env" }}
{{- end }}
{{- end }}
{{- end }}
{{- $hpa := .Values.autoscaling.hpa }}
{{- $keda := .Values.autoscaling.keda }}
{{- if and $hpa.enabled $keda.enabled }}
{{- fail "autoscaling: enable either hpa or keda, not both (KEDA makes an HPA of its own, and two HPAs on one Deployment fight)" }}
{{- end }}
{{- if $hpa.enabled }}
{{- if lt (int $hpa.maxReplicas) (int $hpa.minReplicas) }}
{{- fail "autoscaling.hpa: maxReplicas must be at least minReplicas" }}
{{- end }}
{{- if and (kindIs "invalid" $hpa.targetCPUUtilizationPercentage) (kindIs "invalid" $hpa.targetMemoryUtilizationPercentage) }}
{{- fail "autoscaling.hpa: set targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" }}
{{- end }}
{{- end }}
{{- if $keda.enabled }}
{{- if lt (int $keda.maxReplicaCount) (int $keda.minReplicaCount) }}
{{- fail "autoscaling.keda: maxReplicaCount must be at least minReplicaCount" }}
{{- end }}
{{- $t := $keda.triggers }}
{{- if not (or $t.kafka.enabled $t.rabbitmq.enabled $t.sqs.enabled) }}
{{- fail "autoscaling.keda: enable at least one of triggers.kafka, triggers.rabbitmq, triggers.sqs" }}
{{- end }}
{{- if $t.rabbitmq.enabled }}
{{- if not (or $t.rabbitmq.hostFromEnv $t.rabbitmq.authenticationRef.name) }}
{{- fail "autoscaling.keda.triggers.rabbitmq: set hostFromEnv or authenticationRef.name (where KEDA finds the broker URL)" }}
{{- end }}
{{- end }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (hasKey $pdb "minAvailable") (hasKey $pdb "maxUnavailable") }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- end }}
