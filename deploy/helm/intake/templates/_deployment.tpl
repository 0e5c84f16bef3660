{{/*
One role's Deployment: (dict "root" $ "role" "gateway"|"router").
*/}}
{{- define "intake.deployment" -}}
{{- $root := .root -}}
{{- $role := .role -}}
{{- $values := index $root.Values $role -}}
{{- $config := include "intake.roleConfig" . | fromYaml -}}
{{- $secrets := include "intake.roleSecrets" . | fromYaml -}}
{{- $localBlobs := include "intake.blobIsLocal" $config -}}
{{- $sqliteState := and (eq $role "router") (eq (include "intake.storeBackend" $config) "sqlite") -}}
{{- $ports := $root.Values.containerPorts -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "intake.roleName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "intake.roleLabels" . | nindent 4 }}
spec:
  replicas: {{ $values.replicas }}
  revisionHistoryLimit: 5
  {{- if $values.strategy }}
  strategy:
    {{- toYaml $values.strategy | nindent 4 }}
  {{- else if $sqliteState }}
  # One writer of the SQLite state store at a time.
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- include "intake.roleSelectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- /* The selector labels win over podLabels. */}}
        {{- $selector := include "intake.roleSelectorLabels" . | fromYaml }}
        {{- toYaml (mergeOverwrite (deepCopy (default (dict) $values.podLabels)) $selector) | nindent 8 }}
      annotations:
        {{- /* podAnnotations, then the chart's own (a changed intake.toml restarts the pods). */}}
        {{- $annotations := deepCopy (default (dict) $values.podAnnotations) }}
        {{- if $root.Values.metrics.podAnnotations }}
        {{- $_ := set $annotations "prometheus.io/scrape" "true" }}
        {{- $_ := set $annotations "prometheus.io/port" (toString $ports.ops) }}
        {{- $_ := set $annotations "prometheus.io/path" "/metrics" }}
        {{- end }}
        {{- $_ := set $annotations "checksum/config" (include "intake.toml.table" (dict "table" $config "path" "") | sha256sum) }}
        {{- toYaml $annotations | nindent 8 }}
    spec:
      serviceAccountName: {{ include "intake.serviceAccountName" $root }}
      automountServiceAccountToken: {{ $root.Values.serviceAccount.automountServiceAccountToken }}
      terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: intake
          image: {{ include "intake.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["run", "--role", {{ $role | quote }}]
          env:
            - name: INTAKE_CONFIG
              value: {{ include "intake.configPath" $root }}
            - name: INTAKE__OPS__LISTEN
              value: {{ printf "0.0.0.0:%d" (int $ports.ops) | quote }}
            {{- if eq $role "router" }}
            # Each replica paces by its share of the account's budget.
            - name: INTAKE__ZENDESK__REPLICAS
              value: {{ $values.replicas | quote }}
            {{- end }}
            {{- if eq $role "gateway" }}
            - name: INTAKE__HTTP__LISTEN
              value: {{ printf "0.0.0.0:%d" (int $ports.http) | quote }}
            {{- end }}
            {{- if $localBlobs }}
            - name: INTAKE__BLOB__DIR
              value: {{ include "intake.blobDir" $root }}
            {{- end }}
            {{- if $sqliteState }}
            - name: INTAKE__STORE__SQLITE_PATH
              value: {{ printf "%s/state.sqlite" (include "intake.stateDir" $root) }}
            {{- end }}
            {{- range $name, $secret := $secrets }}
            {{- if eq $secret.as "env" }}
            - name: {{ $secret.envName }}
              valueFrom:
                secretKeyRef:
                  name: {{ $secret.secretName }}
                  key: {{ $secret.secretKey }}
                  optional: {{ $secret.optional }}
            {{- if $secret.configVar }}
            - name: {{ printf "%s_ENV" $secret.configVar }}
              value: {{ $secret.envName }}
            {{- end }}
            {{- else if $secret.configVar }}
            - name: {{ printf "%s_FILE" $secret.configVar }}
              value: {{ printf "%s/%s" $secret.dir $secret.secretKey }}
            {{- end }}
            {{- end }}
            {{- with $values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            {{- if eq $role "gateway" }}
            - name: http
              containerPort: {{ $ports.http }}
              protocol: TCP
            {{- end }}
            - name: ops
              containerPort: {{ $ports.ops }}
              protocol: TCP
          # /healthz answers as soon as the process runs (also while it
          # still reaches Kafka); /readyz checks the bus, the blob store and
          # (router) the state store.
          startupProbe:
            httpGet:
              path: /healthz
              port: ops
            {{- toYaml $values.probes.startup | nindent 12 }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: ops
            {{- toYaml $values.probes.liveness | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: ops
            {{- toYaml $values.probes.readiness | nindent 12 }}
          {{- with $values.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: config
              mountPath: {{ include "intake.configPath" $root }}
              subPath: intake.toml
              readOnly: true
            - name: scratch
              mountPath: /var/lib/intake/data
            - name: tmp
              mountPath: /tmp
            {{- if $localBlobs }}
            - name: blobs
              mountPath: {{ include "intake.blobDir" $root }}
            {{- end }}
            {{- if $sqliteState }}
            - name: state
              mountPath: {{ include "intake.stateDir" $root }}
            {{- end }}
            {{- range $name, $secret := $secrets }}
            {{- if eq $secret.as "file" }}
            - name: {{ $secret.volume }}
              mountPath: {{ $secret.dir }}
              readOnly: true
            {{- end }}
            {{- end }}
            {{- with $values.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ include "intake.roleName" . }}
        {{- $scratch := $root.Values.persistence.scratch }}
        - name: scratch
          emptyDir:
            {{- with $scratch.medium }}
            medium: {{ . }}
            {{- end }}
            {{- with $scratch.sizeLimit }}
            sizeLimit: {{ . }}
            {{- end }}
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- if $localBlobs }}
        - name: blobs
          persistentVolumeClaim:
            claimName: {{ default (printf "%s-blobs" (include "intake.fullname" $root)) $root.Values.persistence.blobs.existingClaim }}
        {{- end }}
        {{- if $sqliteState }}
        - name: state
          persistentVolumeClaim:
            claimName: {{ default (printf "%s-state" (include "intake.fullname" $root)) $root.Values.persistence.state.existingClaim }}
        {{- end }}
        {{- range $name, $secret := $secrets }}
        {{- if eq $secret.as "file" }}
        - name: {{ $secret.volume }}
          secret:
            secretName: {{ $secret.secretName }}
            optional: {{ $secret.optional }}
            # 0440: the owner and the pod's fsGroup may read it.
            defaultMode: 288
            items:
              - key: {{ $secret.secretKey }}
                path: {{ $secret.secretKey }}
        {{- end }}
        {{- end }}
        {{- with $values.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end -}}
