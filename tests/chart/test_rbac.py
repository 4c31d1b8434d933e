"""The operator's permissions: least privilege, one namespaced Role (nothing cluster-wide).

`pytest tests/chart/test_rbac.py -s` prints the (group, resource, verb) triples, the form the
end-to-end test compares with the requests the operator really makes.
"""

from __future__ import annotations

from chart_render import find, render_chart, rendered_rbac_triples

# Without these the operator cannot run at all: kopf watching and annotating the resources, patching
# their status, peering and posting events. The rest follows what the handlers create.
ESSENTIAL = {
    *{("genesys.dev", "evolutions", verb) for verb in ("list", "watch", "patch")},
    *{("genesys.dev", plural, verb) for plural in ("designs", "verificationjobs", "scalebudgets")
      for verb in ("list", "create")},
    *{("genesys.dev", f"{plural}/status", "patch") for plural in ("evolutions", "designs", "verificationjobs")},
    ("kopf.dev", "kopfpeerings", "list"), ("kopf.dev", "kopfpeerings", "watch"), ("kopf.dev", "kopfpeerings", "patch"),
    ("", "events", "create"),
}
# Cluster-scoped resources a namespaced Role cannot grant.
CLUSTER_SCOPED = {("apiextensions.k8s.io", "customresourcedefinitions"), ("", "namespaces"), ("", "nodes"),
                  ("", "persistentvolumes"), ("kopf.dev", "clusterkopfpeerings"),
                  ("rbac.authorization.k8s.io", "clusterroles"), ("rbac.authorization.k8s.io", "clusterrolebindings")}
# Verbs that would let the operator widen its own rights or act as someone else.
ESCALATING = {"escalate", "bind", "impersonate"}


def test_print_the_triples():
    manifests = render_chart()
    for group, resource, verb in sorted(rendered_rbac_triples(manifests, kinds=("Role",))):
        print(f"  {group or 'core'}\t{resource}\t{verb}")
    assert rendered_rbac_triples(manifests) == rendered_rbac_triples(manifests, kinds=("Role",))


def test_triples_expand_every_rule():
    manifests = [{"kind": "Role", "rules": [{"apiGroups": ["", "apps"], "resources": ["pods", "deployments"],
                                             "verbs": ["get"]}]},
                 {"kind": "ClusterRole", "rules": [{"apiGroups": ["x.io"], "resources": ["things/status"],
                                                    "verbs": ["patch", "update"]}]},
                 {"kind": "ConfigMap", "data": {}}]
    assert rendered_rbac_triples(manifests) == {("", "pods", "get"), ("", "deployments", "get"),
                                                ("apps", "pods", "get"), ("apps", "deployments", "get"),
                                                ("x.io", "things/status", "patch"), ("x.io", "things/status", "update")}


def test_no_wildcards_no_secrets_no_escalation():
    triples = rendered_rbac_triples(render_chart())
    assert not [t for t in triples if "*" in "".join(t)], "RBAC must name groups, resources and verbs"
    # pods receive the store's and the LLM's Secrets through envFrom: the operator only names them
    assert not [t for t in triples if t[1].startswith("secrets")]
    assert not [t for t in triples if t[2] in ESCALATING]
    assert not [t for t in triples if t[1].startswith(("roles", "rolebindings", "serviceaccounts"))]
    assert ESSENTIAL <= triples, sorted(ESSENTIAL - triples)


def test_nothing_cluster_wide():
    manifests = render_chart()
    assert not find(manifests, "ClusterRole") and not find(manifests, "ClusterRoleBinding")
    namespaced = rendered_rbac_triples(manifests, kinds=("Role",))
    assert not [t for t in namespaced if t[:2] in CLUSTER_SCOPED], "a Role cannot grant cluster-scoped resources"
    # Designs, VerificationJobs and ScaleBudgets go with their owners (garbage collection), never by the operator.
    assert not [t for t in namespaced if t[0] == "genesys.dev" and t[2] in ("delete", "deletecollection")]


def test_the_binding_grants_the_role_to_the_operators_service_account():
    manifests = render_chart()
    (account,) = find(manifests, "ServiceAccount")
    (deployment,) = find(manifests, "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    (binding,) = find(manifests, "RoleBinding")
    (role,) = find(manifests, "Role")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": account["metadata"]["namespace"]}]
