{{/* Names, labels and the values derived from several keys, used by every template. */}}

{{- define "genesys.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "genesys.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "genesys.labels" -}}
{{ include "genesys.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: genesys
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "genesys.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "genesys.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: set it to an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The namespace the operator serves (and holds its Role and KopfPeering). */}}
{{- define "genesys.watchNamespace" -}}
{{- default .Release.Namespace .Values.operator.watchNamespace -}}
{{- end -}}

{{/* "repository:tag" of images.<name>; the tag defaults to the chart's appVersion. Call with (list $ "agent"). */}}
{{- define "genesys.image" -}}
{{- $root := index . 0 -}}
{{- $image := index $root.Values.images (index . 1) -}}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) -}}
{{- end -}}

{{/* The store's claim name when the store is a PVC, else nothing. */}}
{{- define "genesys.storeClaim" -}}
{{- if not .Values.store.url -}}
{{- if .Values.store.pvc.create -}}
{{- default (printf "%s-store" (include "genesys.fullname" .)) .Values.store.pvc.claimName -}}
{{- else -}}
{{- required "store.pvc.claimName: name an existing ReadWriteMany claim (or set store.pvc.create=true, or store.url)" .Values.store.pvc.claimName -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* GENESYS_STORE: the URL, or the claim's mount path. */}}
{{- define "genesys.storeRoot" -}}
{{- default .Values.store.pvc.mountPath .Values.store.url -}}
{{- end -}}
