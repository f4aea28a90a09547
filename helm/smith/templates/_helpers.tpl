{{/* The chart name, overridable. */}}
{{- define "smith.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The resource name prefix: <release>-smith, or the release name when it already says smith. */}}
{{- define "smith.fullname" -}}
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

{{/* Labels of every object. */}}
{{- define "smith.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "smith.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: smith
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "api"). */}}
{{- define "smith.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smith.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels of one component's objects and Pods. */}}
{{- define "smith.componentLabels" -}}
{{ include "smith.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Replica Pods, as the scheduler labels them (the executor adds app.kubernetes.io/instance from SMITH_REPLICA_LABELS). */}}
{{- define "smith.replicaSelectorLabels" -}}
app.kubernetes.io/name: smith
app.kubernetes.io/component: replica
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "smith.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "smith.replicaImage" -}}
{{- printf "%s:%s" .Values.replicaImage.repository (default .Chart.AppVersion .Values.replicaImage.tag) -}}
{{- end -}}

{{- define "smith.serviceAccountName" -}}
{{- $sa := index .ctx.Values.serviceAccounts .component -}}
{{- if $sa.name -}}{{ $sa.name }}{{- else -}}{{ printf "%s-%s" (include "smith.fullname" .ctx) .component }}{{- end -}}
{{- end -}}

{{- define "smith.apiServiceName" -}}
{{- printf "%s-api" (include "smith.fullname" .) -}}
{{- end -}}

{{- define "smith.apiUrl" -}}
{{- printf "http://%s.%s.svc:%v" (include "smith.apiServiceName" .) .Release.Namespace .Values.api.service.port -}}
{{- end -}}

{{- define "smith.etcdName" -}}
{{- printf "%s-etcd" (include "smith.fullname" .) -}}
{{- end -}}

{{/* Comma-separated etcd client URLs. */}}
{{- define "smith.etcdEndpoints" -}}
{{- if .Values.etcd.enabled -}}
{{- $name := include "smith.etcdName" . -}}
{{- $scheme := ternary "https" "http" .Values.etcd.tls.enabled -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.etcd.replicas) -}}
{{- $urls = append $urls (printf "%s://%s-%d.%s-headless.%s.svc:2379" $scheme $name $i $name $.Release.Namespace) -}}
{{- end -}}
{{- join "," $urls -}}
{{- else -}}
{{- if not .Values.externalEtcd.endpoints -}}
{{- fail "etcd.enabled is false: set externalEtcd.endpoints" -}}
{{- end -}}
{{- range .Values.externalEtcd.endpoints -}}
{{- if and (hasPrefix "http://" .) $.Values.externalEtcd.tls.existingSecret -}}
{{- fail (printf "externalEtcd.endpoints: %s is plain http:// but externalEtcd.tls.existingSecret is set: use https:// endpoints" .) -}}
{{- end -}}
{{- if and (hasPrefix "http://" .) (not $.Values.externalEtcd.allowPlainHttp) -}}
{{- fail (printf "externalEtcd.endpoints: %s is plain http://, which anyone who reaches it can read and rewrite: use https:// with externalEtcd.tls.existingSecret (ca.crt, tls.crt, tls.key), or set externalEtcd.allowPlainHttp=true" .) -}}
{{- end -}}
{{- end -}}
{{- join "," .Values.externalEtcd.endpoints -}}
{{- end -}}
{{- end -}}

{{/*
The Secret (ca.crt, tls.crt, tls.key) with the client certificate for etcd that the API and the
schedulers mount (nothing else does); empty when etcd is plain HTTP.
*/}}
{{- define "smith.etcdClientSecret" -}}
{{- if .Values.etcd.enabled -}}
{{- if .Values.etcd.tls.enabled -}}
{{- default (printf "%s-etcd-client" (include "smith.fullname" .)) .Values.etcd.tls.existingClientSecret -}}
{{- end -}}
{{- else -}}
{{- .Values.externalEtcd.tls.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "smith.etcdServerSecret" -}}
{{- default (printf "%s-etcd-server" (include "smith.fullname" .)) .Values.etcd.tls.existingServerSecret -}}
{{- end -}}

{{/* The API's and schedulers' env for the etcd client certificate (files of the mounted Secret). */}}
{{- define "smith.etcdClientEnv" -}}
{{- if include "smith.etcdClientSecret" . }}
- name: SMITH_ETCD_CA_FILE
  value: /var/run/secrets/smith/etcd/ca.crt
- name: SMITH_ETCD_CERT_FILE
  value: /var/run/secrets/smith/etcd/tls.crt
- name: SMITH_ETCD_KEY_FILE
  value: /var/run/secrets/smith/etcd/tls.key
{{- end }}
{{- end -}}

{{- define "smith.etcdClientMount" -}}
{{- if include "smith.etcdClientSecret" . }}
- name: etcd-client
  mountPath: /var/run/secrets/smith/etcd
  readOnly: true
{{- end }}
{{- end -}}

{{- define "smith.etcdClientVolume" -}}
{{- with include "smith.etcdClientSecret" . }}
- name: etcd-client
  secret:
    secretName: {{ . }}
    items:
      - { key: ca.crt, path: ca.crt }
      - { key: tls.crt, path: tls.crt }
      - { key: tls.key, path: tls.key }
{{- end }}
{{- end -}}

{{- define "smith.signingKeySecret" -}}
{{- default (printf "%s-signing-key" (include "smith.fullname" .)) .Values.secrets.signingKey.existingSecret -}}
{{- end -}}

{{- define "smith.credentialsKeySecret" -}}
{{- default (printf "%s-credentials-key" (include "smith.fullname" .)) .Values.secrets.credentialsKey.existingSecret -}}
{{- end -}}

{{- define "smith.adminTokenSecret" -}}
{{- default (printf "%s-admin-token" (include "smith.fullname" .)) .Values.secrets.adminToken.existingSecret -}}
{{- end -}}

{{- define "smith.providerSecret" -}}
{{- default (printf "%s-providers" (include "smith.fullname" .)) .Values.providerCredentials.existingSecret -}}
{{- end -}}

{{/*
A value for a generated Secret: the given one, else the one already in the cluster (so that
upgrades keep it), else random. (dict "ctx" $ "secret" name "key" key "value" given "length" n)
*/}}
{{- define "smith.secretValue" -}}
{{- if .value -}}
{{- .value | b64enc -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key -}}
{{- else -}}
{{- randAlphaNum (int .length) | b64enc -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Pod-level scheduling settings of a component's values. */}}
{{- define "smith.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A map as `k=v,k2=v2` (sorted). */}}
{{- define "smith.pairs" -}}
{{- $out := list -}}
{{- range $k := keys . | sortAlpha -}}
{{- $out = append $out (printf "%s=%s" $k (index $ $k)) -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{- define "smith.githubWebhookSecret" -}}
{{- default (printf "%s-github-webhook" (include "smith.fullname" .)) .Values.github.webhookSecret.existingSecret -}}
{{- end }}

{{- define "smith.githubTokenSecret" -}}
{{- default (printf "%s-github-token" (include "smith.fullname" .)) .Values.github.token.existingSecret -}}
{{- end }}
