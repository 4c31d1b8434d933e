{{/*
What the operator may do, one rule per concern: exactly what its handlers and kopf touch, no
wildcards and no Secrets (pods get their Secrets through envFrom; the operator only names them).
The end-to-end test compares these (group, resource, verb) triples with the requests the operator
really makes: change the operator, then this list.
*/}}

{{/* In the served namespace (a Role). */}}
{{- define "genesys.namespacedRules" -}}
# the resources of genesys.dev: kopf watches them and patches its annotations and finalizers; the handlers
# create an Evolution's children (users create Evolutions); nothing deletes them (owner references let the
# garbage collector do it)
- apiGroups: [genesys.dev]
  resources: [evolutions]
  verbs: [get, list, watch, patch]
- apiGroups: [genesys.dev]
  resources: [designs, verificationjobs, scalebudgets]
  verbs: [get, list, watch, create, patch]
- apiGroups: [genesys.dev]
  resources: [evolutions/status, designs/status, verificationjobs/status, scalebudgets/status]
  verbs: [get, patch]
# design sessions, and verifications where the Kubeflow training operator is absent (Indexed Jobs)
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
# the headless Service that gives an Indexed Job's pods DNS names for torchrun's rendezvous
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, create, delete]
# a child's pods: their exit codes say why it failed
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
# verifications where the Kubeflow training operator is installed
- apiGroups: [kubeflow.org]
  resources: [pytorchjobs]
  verbs: [get, list, watch, create, delete]
# kopf reports handler outcomes as events on the objects
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# kopf's peering: a second operator (an old pod during a rollout) pauses while this one runs
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [get, list, watch, patch]
{{- end -}}

{{/* Cluster-wide (a ClusterRole): only what has no namespace. */}}
{{- define "genesys.clusterRules" -}}
# kopf follows CRDs as they come and go; the operator asks whether PyTorchJob's CRD is installed
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch]
{{- end -}}
