{{/* Names and labels shared by every template. */}}

{{- define "grace.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "grace.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Cluster-scoped objects are shared by every release: the namespace keeps their names apart. */}}
{{- define "grace.clusterName" -}}
{{- printf "%s-%s" (include "grace.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "grace.selectorLabels" -}}
app.kubernetes.io/name: {{ include "grace.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "grace.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "grace.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: grace
{{- end -}}

{{- define "grace.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "grace.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The user the operator acts as: automatic Missions are requested by it. */}}
{{- define "grace.identity" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "grace.serviceAccountName" .) -}}
{{- end -}}

{{- define "grace.ledgerNamespace" -}}
{{- default .Release.Namespace .Values.ledger.namespace -}}
{{- end -}}

{{/* The operator derives it from --ledger-namespace (runtime/app.py build_ledger). */}}
{{- define "grace.witnessNamespace" -}}
{{- printf "%s-witness" (include "grace.ledgerNamespace" .) -}}
{{- end -}}

{{- define "grace.ledgerClaim" -}}
{{- default (printf "%s-ledger" (include "grace.fullname" .)) .Values.ledger.persistence.existingClaim -}}
{{- end -}}

{{- define "grace.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "grace.opaImage" -}}
{{- if .Values.opa.image.digest -}}
{{- printf "%s@%s" .Values.opa.image.repository .Values.opa.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.opa.image.repository .Values.opa.image.tag -}}
{{- end -}}
{{- end -}}

{{/* Where the operator's workload rules apply: every watched namespace, or the cluster. */}}
{{- define "grace.workloadRules" -}}
# GRACE's own kinds: watched by kopf, status written by the operator. Nothing else of them is
# ever written (no spec, no metadata: kopf runs its daemons without finalizers).
- apiGroups: [grace.dev]
  resources: [healthnodes, playbooks, missions, approvalrequests]
  verbs: [get, list, watch]
- apiGroups: [grace.dev]
  resources: [healthnodes/status, playbooks/status, missions/status, approvalrequests/status]
  verbs: [patch]
# Automatic Missions, and the ApprovalRequests that ask a human.
- apiGroups: [grace.dev]
  resources: [missions, approvalrequests]
  verbs: [create]
# Finished automatic Missions past --mission-ttl (the ledger keeps their record).
- apiGroups: [grace.dev]
  resources: [missions]
  verbs: [delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# One actor per target: a Lease named after the target, held for the whole Mission.
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update, delete]
# Playbook targets: read, snapshot, scale / restart / roll back / set resources (patch only).
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [get, patch]
# A Deployment's revision history, for rollback and the snapshot.
- apiGroups: [apps]
  resources: [replicasets]
  verbs: [list]
# deletePods: the target's own pods, each deleted with a uid precondition. No exec, no logs.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, delete]
# evictPods: the Eviction API, so PodDisruptionBudgets decide (a refusal is reported, never forced).
- apiGroups: [""]
  resources: [pods/eviction]
  verbs: [create]
# scaleHPA: the HorizontalPodAutoscaler of the target, its minReplicas/maxReplicas only (patch).
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, patch]
{{- end -}}

{{- define "grace.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
privileged: false
capabilities:
  drop: [ALL]
{{- end -}}
