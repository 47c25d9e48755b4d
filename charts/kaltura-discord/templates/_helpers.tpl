{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "kaltura-discord.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: fullnameOverride, else the release name when it already
contains the chart name, else "<release>-<chart>".
*/}}
{{- define "kaltura-discord.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "kaltura-discord.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: stable across upgrades (a Deployment's selector is immutable).
*/}}
{{- define "kaltura-discord.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kaltura-discord.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
Kubernetes recommended labels (app.kubernetes.io/*) of every object of the chart.
*/}}
{{- define "kaltura-discord.labels" -}}
helm.sh/chart: {{ include "kaltura-discord.chart" . }}
{{ include "kaltura-discord.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | replace "@" "_" | replace ":" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: kaltura-discord
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The one image reference: the operator runs it and deploys the bot and Activity pods with it.
*/}}
{{- define "kaltura-discord.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
Name of the operator's ServiceAccount.
*/}}
{{- define "kaltura-discord.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kaltura-discord.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The permissions of the operator, least privilege, shared by the ClusterRole and the Role.
*/}}
{{- define "kaltura-discord.rbacRules" -}}
# Read the custom resources; write only their status (and the commands finalizer).
- apiGroups: ["kaltura-discord.io"]
  resources: ["kalturapartners", "discordapplications", "guildconfigs", "rolemappings", "notificationrules"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["kaltura-discord.io"]
  resources: ["kalturapartners/status", "discordapplications/status", "guildconfigs/status", "rolemappings/status", "notificationrules/status"]
  verbs: ["get", "patch", "update"]
# The commands finalizer (metadata.finalizers) of GuildConfigs and of DiscordApplications with
# global commands: their commands go before they do.
- apiGroups: ["kaltura-discord.io"]
  resources: ["discordapplications", "guildconfigs"]
  verbs: ["patch"]
# Resolve the credentials the resources name (Kaltura admin secret, Discord bot token, ...).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
# The bot and Activity workloads: their runtime config and Services ...
- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# ... the volume that holds an application's SQLite database (created, never pruned) ...
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "create", "patch"]
# ... and their Deployments.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# ... each workload's own identity, allowed to read only its application's config ConfigMaps
# (the operator must hold what it grants: get, list and watch on configmaps, above) ...
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# ... and the bot replicas' gateway shard Leases in their namespace (granted to them, so held
# here; the operator itself writes none) ...
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "list", "create", "patch", "delete"]
# ... a PodDisruptionBudget for each that runs several replicas.
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Where the bots answer: the operator reads each ready bot pod's /status report.
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
# Events on the resources it reconciles (both APIs: clients differ in which one they use).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
