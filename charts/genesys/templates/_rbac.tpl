{{/*
What the operator may do, one rule per concern: exactly what its handlers and kopf touch, no
wildcards and no Secrets (pods get their Secrets through envFrom; the operator only names them).
The end-to-end test compares these (group, resource, verb) triples with the requests the operator
really makes: change the operator, then this list.
*/}}

{{/* In the served namespace (a Role). Nothing cluster-wide: the operator runs with kopf's scanning
disabled (no listing of namespaces or CRDs) and finds PyTorchJob through discovery, which every
authenticated client may read. */}}
{{- define "genesys.namespacedRules" -}}
# kopf watches Evolutions and keeps its progress in their annotations; users create them
- apiGroups: [genesys.dev]
  resources: [evolutions]
  verbs: [list, watch, patch]
# an Evolution's children: each pass LISTs them afresh (no watch), creates what the core decides (a
# 409 means done; get reads the existing one), patches a session's design into its Design and a
# verification's attempt into its VerificationJob; nothing deletes them (owner references do)
- apiGroups: [genesys.dev]
  resources: [designs, verificationjobs]
  verbs: [get, list, create, patch]
- apiGroups: [genesys.dev]
  resources: [scalebudgets]
  verbs: [list, create]
- apiGroups: [genesys.dev]
  resources: [evolutions/status, designs/status, verificationjobs/status, scalebudgets/status]
  verbs: [patch]
# design sessions and, without the Kubeflow training operator, Indexed training Jobs; a lost run's
# child is deleted and made again under the same name
- apiGroups: [batch]
  resources: [jobs]
  verbs: [list, create, delete]
# verifications where the Kubeflow training operator is installed
- apiGroups: [kubeflow.org]
  resources: [pytorchjobs]
  verbs: [list, create, delete]
# the headless Service that gives an Indexed Job's pods DNS names for torchrun's rendezvous
- apiGroups: [""]
  resources: [services]
  verbs: [create]
# a child's pods: their exit codes say how it ended
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
# Events on the objects (kopf posts them)
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# kopf's peering: a second operator (an old pod during a rollout) pauses while this one runs
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [list, watch, patch]
{{- end -}}
