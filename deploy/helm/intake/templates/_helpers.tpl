{{/* Names and labels. */}}

{{- define "intake.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "intake.fullname" -}}
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

{{/* The name of one role's objects: (dict "root" $ "role" "gateway"). */}}
{{- define "intake.roleName" -}}
{{- printf "%s-%s" (include "intake.fullname" .root | trunc 55 | trimSuffix "-") .role -}}
{{- end -}}

{{- define "intake.selectorLabels" -}}
app.kubernetes.io/name: {{ include "intake.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Labels as one map, so that no key appears twice: commonLabels, then the
object's own extra labels, then the chart's standard labels (which win).
(dict "root" $ "role" "gateway"|"" "extra" map)
*/}}
{{- define "intake.labelMap" -}}
{{- $root := .root -}}
{{- $standard := dict
  "helm.sh/chart" (printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-")
  "app.kubernetes.io/name" (include "intake.name" $root)
  "app.kubernetes.io/instance" $root.Release.Name
  "app.kubernetes.io/version" $root.Chart.AppVersion
  "app.kubernetes.io/managed-by" $root.Release.Service
  "app.kubernetes.io/part-of" "intake" -}}
{{- if .role -}}
{{- $_ := set $standard "app.kubernetes.io/component" .role -}}
{{- end -}}
{{- $labels := mergeOverwrite (deepCopy (default (dict) $root.Values.commonLabels)) (deepCopy (default (dict) .extra)) $standard -}}
{{- toYaml $labels -}}
{{- end -}}

{{- define "intake.labels" -}}
{{- include "intake.labelMap" (dict "root" .) -}}
{{- end -}}

{{/* Selector labels of one role: (dict "root" $ "role" "gateway"). */}}
{{- define "intake.roleSelectorLabels" -}}
{{ include "intake.selectorLabels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "intake.roleLabels" -}}
{{- include "intake.labelMap" (dict "root" .root "role" .role "extra" .extra) -}}
{{- end -}}

{{- define "intake.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "intake.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "intake.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
One role's configuration as a YAML map: `config` with the role's own
`config` merged over it. The gateway keeps [store] only when it shares the
router's PostgreSQL store (intake.gatewayStore); without it the gateway's
acknowledgements are off (they need a store the replicas share).
(dict "root" $ "role" "gateway")
*/}}
{{- define "intake.roleConfig" -}}
{{- $merged := include "intake.mergedConfig" . | fromYaml -}}
{{- if and (eq .role "gateway") (not (include "intake.gatewayStore" .root)) -}}
{{- $_ := unset $merged "store" -}}
{{- $_ := set $merged "acknowledgements" (mergeOverwrite (deepCopy (default (dict) $merged.acknowledgements)) (dict "enabled" false)) -}}
{{- end -}}
{{- toYaml $merged -}}
{{- end -}}

{{/* `config` with the role's own `config` merged over it, untouched. */}}
{{- define "intake.mergedConfig" -}}
{{- $role := index .root.Values .role -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.config) (deepCopy (default (dict) $role.config))) -}}
{{- end -}}

{{/*
"true" when the gateway opens the shared PostgreSQL state store: the store
is PostgreSQL and an enabled `secrets` entry gives store.postgres_url to the
gateway. (Acknowledgements, agent replies and the pull channels' cursors
live there; decision 51.) Takes the root context.
*/}}
{{- define "intake.gatewayStore" -}}
{{- $config := include "intake.mergedConfig" (dict "root" . "role" "gateway") | fromYaml -}}
{{- if eq (include "intake.storeBackend" $config) "postgres" -}}
{{- range $name, $secret := .Values.secrets -}}
{{- if and $secret (ne (toString $secret.enabled) "false") (eq (toString $secret.configKey) "store.postgres_url") (has "gateway" (default (list "gateway" "router") $secret.roles)) -}}
true
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* What in the gateway's configuration needs the shared state store, comma-separated; empty: nothing. */}}
{{- define "intake.gatewayStoreNeeds" -}}
{{- $config := include "intake.mergedConfig" (dict "root" . "role" "gateway") | fromYaml -}}
{{- $needs := list -}}
{{- if eq (toString (dig "acknowledgements" "enabled" "" $config)) "true" -}}
{{- $needs = append $needs "acknowledgements.enabled" -}}
{{- end -}}
{{- if eq (toString (dig "zendesk_webhook" "enabled" "" $config)) "true" -}}
{{- $needs = append $needs "zendesk_webhook.enabled (agent replies)" -}}
{{- end -}}
{{- if eq (toString (dig "channels" "email" "enabled" "" $config)) "true" -}}
{{- $needs = append $needs "channels.email (its mailbox cursor)" -}}
{{- end -}}
{{- if and (eq (toString (dig "channels" "telegram" "enabled" "" $config)) "true") (eq (toString (dig "channels" "telegram" "mode" "" $config)) "polling") -}}
{{- $needs = append $needs "channels.telegram polling (its update offset)" -}}
{{- end -}}
{{- join ", " $needs -}}
{{- end -}}

{{/* The backends the chart's own choices depend on, with intake's defaults. */}}
{{- define "intake.busBackend" -}}
{{- dig "bus" "backend" "embedded" . -}}
{{- end -}}
{{- define "intake.storeBackend" -}}
{{- dig "store" "backend" "sqlite" . -}}
{{- end -}}
{{- define "intake.blobIsLocal" -}}
{{- if ne (dig "blob" "backend" "" .) "s3" -}}true{{- end -}}
{{- end -}}

{{/* Fixed paths inside the container. */}}
{{- define "intake.configPath" -}}/etc/intake/intake.toml{{- end -}}
{{- define "intake.blobDir" -}}/var/lib/intake/blobs{{- end -}}
{{- define "intake.stateDir" -}}/var/lib/intake/state{{- end -}}
{{- define "intake.secretsDir" -}}/etc/intake/secrets{{- end -}}

{{/*
TOML from a map, with integers kept integers (Helm reads every YAML number as
a float, and toToml would write 6 as 6.0, which intake refuses for counts).
(dict "table" map "path" "bus.kafka")
*/}}
{{- define "intake.toml.table" -}}
{{- $path := .path -}}
{{- range $key, $value := .table -}}
{{- if and (not (kindIs "map" $value)) (not (kindIs "invalid" $value)) }}
{{ include "intake.toml.key" $key }} = {{ include "intake.toml.value" (dict "value" $value "key" (printf "%s%s" (ternary "" (printf "%s." $path) (eq $path "")) $key)) }}
{{- end -}}
{{- end -}}
{{- range $key, $value := .table -}}
{{- if kindIs "map" $value -}}
{{- $sub := printf "%s%s" (ternary "" (printf "%s." $path) (eq $path "")) (include "intake.toml.key" $key) }}

[{{ $sub }}]
{{- include "intake.toml.table" (dict "table" $value "path" $sub) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "intake.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . -}}
{{- . -}}
{{- else -}}
{{- toJson . -}}
{{- end -}}
{{- end -}}

{{/* One TOML value: (dict "value" v "key" "path.for.errors"). */}}
{{- define "intake.toml.value" -}}
{{- $v := .value -}}
{{- if kindIs "string" $v -}}
{{- toJson $v -}}
{{- else if kindIs "bool" $v -}}
{{- $v -}}
{{- else if or (kindIs "int" $v) (kindIs "int64" $v) -}}
{{- printf "%d" $v -}}
{{- else if kindIs "float64" $v -}}
{{- if eq $v (floor $v) -}}
{{- printf "%d" (int64 $v) -}}
{{- else -}}
{{- $v -}}
{{- end -}}
{{- else if kindIs "slice" $v -}}
{{- $key := .key -}}
{{- $items := list -}}
{{- range $v -}}
{{- if or (kindIs "map" .) (kindIs "slice" .) (kindIs "invalid" .) -}}
{{- fail (printf "config.%s: lists of tables, nested lists and nulls cannot be written as intake.toml here; use scalars" $key) -}}
{{- end -}}
{{- $items = append $items (include "intake.toml.value" (dict "value" . "key" $key)) -}}
{{- end -}}
[{{ join ", " $items }}]
{{- else -}}
{{- fail (printf "config.%s: a %s cannot be written as TOML" .key (kindOf $v)) -}}
{{- end -}}
{{- end -}}

{{/*
Checks the chart refuses to render without. Called once, from configmap.yaml.
*/}}
{{- define "intake.validate" -}}
{{- $root := . -}}
{{- range $role := list "gateway" "router" -}}
{{- $config := include "intake.roleConfig" (dict "root" $root "role" $role) | fromYaml -}}
{{- $bus := include "intake.busBackend" $config -}}
{{- if ne $bus "kafka" -}}
{{- fail (printf "%s: bus.backend is %q, but the gateway and the router run as separate Deployments and share events through the bus: set config.bus.backend = \"kafka\" (the embedded bus is a SQLite file in one pod)" $role $bus) -}}
{{- end -}}
{{- range $key := list "http.listen" "ops.listen" -}}
{{- if hasKey (dig (index (splitList "." $key) 0) (dict) $config) (index (splitList "." $key) 1) -}}
{{- fail (printf "%s: config.%s is set by the chart (containerPorts); leave it out of config" $role $key) -}}
{{- end -}}
{{- end -}}
{{- if and (include "intake.blobIsLocal" $config) (hasKey (dig "blob" (dict) $config) "dir") -}}
{{- fail (printf "%s: config.blob.dir is set by the chart (the blobs volume at %s); leave it out of config" $role (include "intake.blobDir" $root)) -}}
{{- end -}}
{{- $grace := int (index $root.Values $role).terminationGracePeriodSeconds -}}
{{- $deadline := int (dig "service" "shutdown_deadline_secs" 15 $config) -}}
{{- if ge $deadline $grace -}}
{{- fail (printf "%s: config.service.shutdown_deadline_secs (%d) must be below %s.terminationGracePeriodSeconds (%d), or the kubelet kills the process before it has drained" $role $deadline $role $grace) -}}
{{- end -}}
{{- end -}}
{{- $router := include "intake.roleConfig" (dict "root" $root "role" "router") | fromYaml -}}
{{- $store := include "intake.storeBackend" $router -}}
{{- if and (gt (int .Values.router.replicas) 1) (ne $store "postgres") -}}
{{- fail (printf "router.replicas is %d, but more than one router replica needs config.store.backend = \"postgres\": the %q state store is a file on one volume with one writer. Set router.replicas = 1 or switch the store to PostgreSQL (and add a secrets entry for store.postgres_url)" (int .Values.router.replicas) $store) -}}
{{- end -}}
{{- if and (eq $store "sqlite") (hasKey (dig "store" (dict) $router) "sqlite_path") -}}
{{- fail (printf "router: config.store.sqlite_path is set by the chart (the state volume at %s); leave it out of config" (include "intake.stateDir" .)) -}}
{{- end -}}
{{- $needs := include "intake.gatewayStoreNeeds" . -}}
{{- if and $needs (not (include "intake.gatewayStore" .)) -}}
{{- fail (printf "the gateway needs the shared state store for %s: set config.store.backend = \"postgres\" and give the secrets entry for store.postgres_url the roles [gateway, router] (a SQLite file cannot be shared by gateway pods)" $needs) -}}
{{- end -}}
{{- $gateway := include "intake.roleConfig" (dict "root" $root "role" "gateway") | fromYaml -}}
{{- if or (include "intake.blobIsLocal" $gateway) (include "intake.blobIsLocal" $router) -}}
{{- $blobs := .Values.persistence.blobs -}}
{{- if and (not $blobs.existingClaim) (not (has "ReadWriteMany" $blobs.accessModes)) -}}
{{- fail "config.blob is a local directory, which the gateway writes and the router reads from other pods: persistence.blobs.accessModes must include ReadWriteMany (or give persistence.blobs.existingClaim), or use config.blob.backend = \"s3\"" -}}
{{- end -}}
{{- end -}}
{{- range $name, $secret := .Values.secrets -}}
{{- if and $secret (ne (toString $secret.enabled) "false") -}}
{{- if not (regexMatch "^[a-zA-Z][a-zA-Z0-9]*$" $name) -}}
{{- fail (printf "secrets.%s: entry names are letters and digits (camelCase), e.g. zendeskApiToken" $name) -}}
{{- end -}}
{{- if or (not $secret.secretName) (not $secret.secretKey) -}}
{{- fail (printf "secrets.%s: secretName and secretKey name the existing Secret and its key; both are required" $name) -}}
{{- end -}}
{{- if and $secret.configKey (not (regexMatch "^[a-z0-9_]+(\\.[a-z0-9_]+)*$" $secret.configKey)) -}}
{{- fail (printf "secrets.%s.configKey: %q is not a config key path such as zendesk.api_token" $name $secret.configKey) -}}
{{- end -}}
{{- if not (has (default "file" $secret.as) (list "file" "env")) -}}
{{- fail (printf "secrets.%s.as: %q is neither \"file\" nor \"env\"" $name $secret.as) -}}
{{- end -}}
{{- range (default (list "gateway" "router") $secret.roles) -}}
{{- if not (has . (list "gateway" "router")) -}}
{{- fail (printf "secrets.%s.roles: %q is not a role (gateway, router)" $name .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The secrets entries a role gets, as a YAML map of name -> entry with the
defaults filled in (volume, path, env names). (dict "root" $ "role" "router")
*/}}
{{- define "intake.roleSecrets" -}}
{{- $role := .role -}}
{{- $out := dict -}}
{{- range $name, $secret := .root.Values.secrets -}}
{{- if and $secret (ne (toString $secret.enabled) "false") (has $role (default (list "gateway" "router") $secret.roles)) -}}
{{- $kebab := kebabcase $name -}}
{{- $entry := dict "secretName" $secret.secretName "secretKey" $secret.secretKey "as" (default "file" $secret.as) "optional" (default false $secret.optional) "volume" (printf "secret-%s" $kebab | trunc 63 | trimSuffix "-") "dir" (printf "%s/%s" (include "intake.secretsDir" $.root) $kebab) -}}
{{- $_ := set $entry "envName" (default (printf "INTAKE_SECRET_%s" (snakecase $name | upper)) $secret.envName) -}}
{{- if $secret.configKey -}}
{{- $_ := set $entry "configVar" (printf "INTAKE__%s" ($secret.configKey | upper | replace "." "__")) -}}
{{- end -}}
{{- $_ := set $out $name $entry -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* The ports (as NetworkPolicy port entries) of host:port strings, comma-separated. */}}
{{- define "intake.hostPorts" -}}
{{- $ports := list -}}
{{- range (splitList "," .) -}}
{{- $hostPort := trim . -}}
{{- if regexMatch ":[0-9]+$" $hostPort -}}
{{- $ports = append $ports (dict "port" (int (regexFind "[0-9]+$" $hostPort)) "protocol" "TCP") -}}
{{- end -}}
{{- end -}}
{{- toYaml (uniq $ports) -}}
{{- end -}}

{{/* The port of a URL (explicit, else by scheme), as a NetworkPolicy port list. */}}
{{- define "intake.urlPorts" -}}
{{- $url := urlParse . -}}
{{- $port := 443 -}}
{{- if regexMatch ":[0-9]+$" $url.host -}}
{{- $port = int (regexFind "[0-9]+$" $url.host) -}}
{{- else if eq $url.scheme "http" -}}
{{- $port = 80 -}}
{{- end -}}
{{- toYaml (list (dict "port" $port "protocol" "TCP")) -}}
{{- end -}}
