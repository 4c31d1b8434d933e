"""Garbage collection by owner references (background, foreground, orphan), namespace and CRD cleanup."""

from __future__ import annotations

from typing import Any

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def owned(kind: str, api_version: str, name: str, owner: dict[str, Any] | None, **body: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "controller": True,
                                    "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                    "blockOwnerDeletion": True}]
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}


def job_spec() -> dict[str, Any]:
    return {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "t:1"}]}}}


def chain(api: Any, quick: dict[str, Any]) -> list[tuple[str, str]]:
    """Evolution -> ScaleBudget, and Evolution -> VerificationJob -> Job -> Pod."""
    evolution = api.create(quick)
    api.create(owned("ScaleBudget", "genesys.dev/v1alpha1", "quick-cpu-1", evolution,
                     spec={"evolution": "quick", "rung": "cpu-1", "runs": 4}))
    vj = api.create(owned("VerificationJob", "genesys.dev/v1alpha1", "quick-vj", evolution,
                          spec={"design": "gpt2", "rung": "cpu-1"}))
    job = api.create(owned("Job", "batch/v1", "quick-vj-train", vj, spec=job_spec()))
    api.create(owned("Pod", "v1", "quick-vj-train-0", job, spec=job_spec()["template"]["spec"]))
    return [("ScaleBudget", "quick-cpu-1"), ("VerificationJob", "quick-vj"), ("Job", "quick-vj-train"),
            ("Pod", "quick-vj-train-0")]


def test_deleting_an_owner_deletes_its_dependents_recursively(genesys_api, quick):
    api = genesys_api
    dependents = chain(api, quick())
    api.kubectl("delete", "evolution", "quick")
    api.wait_for(lambda: all(api.get(kind, name) is None for kind, name in dependents), 10, "the dependents to go")
    gone = [(w.kind, w.name) for w in api.history if w.deleted]
    assert gone[0] == ("Evolution", "quick") and set(gone[1:]) == set(dependents)
    assert all(w.user_agent.startswith("kube-controller-manager") for w in api.history if w.deleted
               and w.kind != "Evolution")


def test_foreground_deletion_waits_for_the_dependents(genesys_api, quick):
    api = genesys_api
    dependents = chain(api, quick())
    api.patch("Pod", "quick-vj-train-0", {"metadata": {"finalizers": ["genesys.dev/hold"]}})
    marked = api.delete("Evolution", "quick", propagation="Foreground")
    assert "foregroundDeletion" in marked["metadata"]["finalizers"] and marked["metadata"]["deletionTimestamp"]
    api.wait_for(lambda: api.get("ScaleBudget", "quick-cpu-1") is None, 10, "the budget to go")
    assert api.get("Evolution", "quick") is not None  # the held pod holds its owners up the chain
    api.patch("Pod", "quick-vj-train-0", {"metadata": {"finalizers": None}})
    api.wait_for(lambda: api.get("Evolution", "quick") is None, 10, "the evolution to go last")
    assert all(api.get(kind, name) is None for kind, name in dependents)


def test_orphaned_dependents_lose_the_owner_reference(genesys_api, quick):
    api = genesys_api
    chain(api, quick())
    api.delete("Evolution", "quick", propagation="Orphan")
    budget = api.get("ScaleBudget", "quick-cpu-1")
    assert budget is not None and "ownerReferences" not in budget["metadata"]


def test_a_job_deleted_without_a_policy_orphans_its_pods_with_a_warning(kube_api):
    api = kube_api
    job = api.create(owned("Job", "batch/v1", "train", None, spec=job_spec()))
    api.create(owned("Pod", "v1", "train-0", job, spec=job_spec()["template"]["spec"]))
    reply = api.request("DELETE", "/apis/batch/v1/namespaces/default/jobs/train")
    assert reply.code == 200 and "child pods are preserved by default" in reply.warnings[0]
    assert api.get("Pod", "train-0") is not None


def test_a_dependent_whose_owner_is_already_gone_is_collected(kube_api):
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost", "uid": "no-such-uid"}}
    kube_api.create(owned("ConfigMap", "v1", "orphan", ghost))
    kube_api.wait_for(lambda: kube_api.get("ConfigMap", "orphan") is None, 10, "the dangling dependent to go")


def test_deleting_a_namespace_deletes_what_is_in_it(kube_api):
    api = kube_api
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scratch"}})
    api.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "scratch",
                                                                     "finalizers": ["genesys.dev/hold"]}})
    api.kubectl("delete", "namespace", "scratch", "--wait=false")
    assert api.get("Namespace", "scratch")["status"]["phase"] == "Terminating"
    refused = api.request("POST", "/api/v1/namespaces/scratch/configmaps", {"metadata": {"name": "b"}})
    assert refused.code == 403 and "is being terminated" in refused.body["message"]
    api.patch("ConfigMap", "a", {"metadata": {"finalizers": None}}, namespace="scratch")
    api.wait_for(lambda: api.get("Namespace", "scratch") is None, 10, "the namespace to go")
    assert api.request("DELETE", "/api/v1/namespaces/default").code == 403


def test_deleting_a_crd_deletes_its_objects_and_stops_serving_it(genesys_api, quick):
    api = genesys_api
    api.create(quick())
    api.kubectl("delete", "crd", "evolutions.genesys.dev")
    api.wait_for(lambda: api.get("crd", "evolutions.genesys.dev") is None, 10, "the CRD to go")
    assert api.request("GET", "/apis/genesys.dev/v1alpha1/namespaces/default/evolutions").code == 404
    assert [(w.kind, w.deleted) for w in api.history if w.kind == "Evolution"][-1] == ("Evolution", True)
    assert "evolutions" not in api.kubectl("api-resources", "--api-group=genesys.dev").stdout
