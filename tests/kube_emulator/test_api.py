"""The API server's semantics over plain HTTP: metadata, conflicts, validation, status, patches, selectors."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from kube_emulator import ApiError

ROOT = Path(__file__).resolve().parents[2]

EVOLUTIONS = "/apis/genesys.dev/v1alpha1/namespaces/default/evolutions"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
JOBS = "/apis/batch/v1/namespaces/default/jobs"
MERGE = "application/merge-patch+json"


def configmap(name: str, labels: dict[str, str] | None = None, namespace: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}}}


def job(name: str) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "main", "image": "trainer:1"}]}}}}


def test_create_get_and_the_errors_of_a_real_server(genesys_api, quick):
    api = genesys_api
    created = api.request("POST", EVOLUTIONS, quick())
    assert created.code == 201
    meta = created.body["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z") and meta["generation"] == 1
    other = api.request("POST", CONFIGMAPS, configmap("other"))
    assert int(other.body["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])  # one global counter
    assert api.request("GET", f"{EVOLUTIONS}/quick").body == created.body
    again = api.request("POST", EVOLUTIONS, quick())
    assert (again.code, again.body["reason"], again.body["message"]) == (
        409, "AlreadyExists", 'evolutions.genesys.dev "quick" already exists')
    missing = api.request("GET", f"{EVOLUTIONS}/nope")
    assert (missing.code, missing.body["reason"], missing.body["details"]["name"]) == (404, "NotFound", "nope")
    nowhere = api.request("POST", "/api/v1/namespaces/elsewhere/configmaps", configmap("x", namespace="elsewhere"))
    assert (nowhere.code, nowhere.body["message"]) == (404, 'namespaces "elsewhere" not found')
    assert api.request("GET", "/apis/genesys.dev/v1alpha1/namespaces/default/nothings").code == 404


def test_a_stale_resource_version_is_a_conflict(genesys_api, quick):
    api = genesys_api
    first = api.request("POST", EVOLUTIONS, quick()).body
    changed = copy.deepcopy(first)
    changed["spec"]["seed"] = 1
    assert api.request("PUT", f"{EVOLUTIONS}/quick", changed).code == 200
    stale = copy.deepcopy(first)
    stale["spec"]["seed"] = 2
    refused = api.request("PUT", f"{EVOLUTIONS}/quick", stale)
    assert (refused.code, refused.body["reason"]) == (409, "Conflict")
    assert "the object has been modified" in refused.body["message"]
    by_patch = api.request("PATCH", f"{EVOLUTIONS}/quick", {"metadata": {"resourceVersion": first["metadata"][
        "resourceVersion"]}, "spec": {"seed": 3}}, MERGE)
    assert by_patch.code == 409
    assert api.get("Evolution", "quick")["spec"]["seed"] == 1


def test_generation_follows_the_spec_only(genesys_api, quick):
    api = genesys_api
    api.create(quick())
    api.patch("Evolution", "quick", {"metadata": {"labels": {"team": "a"}}})
    api.patch_status("Evolution", "quick", {"phase": "Running"})
    assert api.get("Evolution", "quick")["metadata"]["generation"] == 1
    api.patch("Evolution", "quick", {"spec": {"seed": 7}})
    assert api.get("Evolution", "quick")["metadata"]["generation"] == 2
    job_obj = api.create(job("train"))
    api.patch_status("Job", "train", {"active": 1})
    assert api.get("Job", "train")["metadata"]["generation"] == job_obj["metadata"]["generation"] == 1


def test_the_status_subresource_splits_writes(genesys_api, quick):
    api = genesys_api
    manifest = quick()
    manifest["status"] = {"phase": "Completed"}
    created = api.request("POST", EVOLUTIONS, manifest).body
    assert "status" not in created  # status is dropped on create
    through_main = api.request("PATCH", f"{EVOLUTIONS}/quick", {"spec": {"seed": 5}, "status": {"phase": "Failed"}},
                               MERGE).body
    assert through_main["spec"]["seed"] == 5 and "status" not in through_main
    through_status = api.request("PATCH", f"{EVOLUTIONS}/quick/status", {"spec": {"seed": 9}, "status": {
        "phase": "Running"}, "metadata": {"labels": {"x": "y"}}}, MERGE).body
    assert through_status["status"]["phase"] == "Running" and through_status["spec"]["seed"] == 5
    assert "labels" not in through_status["metadata"]
    assert through_status["status"]["designs"] == 0  # the status schema's defaults apply
    bad = api.request("PATCH", f"{EVOLUTIONS}/quick/status", {"status": {"phase": "Paused"}}, MERGE)
    assert bad.code == 422 and bad.causes == ["status.phase"]
    assert api.request("PATCH", f"{JOBS}/nope/status", {"status": {}}, MERGE).code == 404
    api.create(job("train"))
    api.request("PATCH", f"{JOBS}/train", {"status": {"succeeded": 1}}, MERGE)
    assert api.get("Job", "train")["status"] == {}
    api.request("PATCH", f"{JOBS}/train/status", {"status": {"succeeded": 1}}, MERGE)
    assert api.get("Job", "train")["status"] == {"succeeded": 1}
    assert api.request("PATCH", f"{CONFIGMAPS}/x/status", {}, MERGE).code == 404  # no such subresource


def test_invalid_objects_name_their_fields(genesys_api, quick):
    api = genesys_api
    manifest = quick()
    manifest["spec"]["ladder"]["topRuns"] = 0
    manifest["spec"]["designer"]["kind"] = "oracle"
    manifest["metadata"]["labels"] = {"genesys.dev/name": "x" * 64}
    refused = api.request("POST", EVOLUTIONS, manifest)
    assert (refused.code, refused.body["reason"]) == (422, "Invalid")
    assert refused.causes == ["metadata.labels", "spec.ladder.topRuns", "spec.designer.kind"]
    assert refused.body["message"].startswith('Evolution.genesys.dev "quick" is invalid: [')
    long_job = api.request("POST", JOBS, job("j" * 64))
    assert long_job.code == 422 and "must be no more than 63 characters" in long_job.body["message"]
    always = job("always")
    always["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert api.request("POST", JOBS, always).causes == ["spec.template.spec.restartPolicy"]


def test_unknown_fields_are_pruned_with_a_warning_unless_strict(genesys_api, quick):
    api = genesys_api
    manifest = quick()
    manifest["spec"]["foo"] = 1
    warned = api.request("POST", EVOLUTIONS, manifest)
    assert warned.code == 201 and "foo" not in warned.body["spec"]
    assert warned.warnings == ['299 - "unknown field \\"spec.foo\\""']
    manifest["metadata"]["name"] = "strict"
    strict = api.request("POST", f"{EVOLUTIONS}?fieldValidation=Strict", manifest)
    assert strict.code == 422 and strict.causes == ["spec.foo"]
    free = quick()
    free["metadata"]["name"] = "free"
    free["spec"]["ladder"]["overrides"] = {"nested": {"deep": [1, {"x": None}]}}  # preserve-unknown-fields
    kept = api.request("POST", f"{EVOLUTIONS}?fieldValidation=Strict", free)
    assert kept.code == 201 and kept.body["spec"]["ladder"]["overrides"] == free["spec"]["ladder"]["overrides"]


def test_built_in_kinds_are_pruned_and_typed_by_their_schemas(kube_api):
    api = kube_api
    typo = job("typo")
    typo["spec"]["ttlSecondsAfterFinishd"] = 60
    warned = api.request("POST", JOBS, typo)
    assert warned.code == 201 and "ttlSecondsAfterFinishd" not in warned.body["spec"]
    assert warned.warnings == ['299 - "unknown field \\"spec.ttlSecondsAfterFinishd\\""']
    typo["metadata"]["name"] = "strict"
    assert api.request("POST", f"{JOBS}?fieldValidation=Strict", typo).causes == ["spec.ttlSecondsAfterFinishd"]
    wrong = job("wrong")
    wrong["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": "80"}]
    assert api.request("POST", JOBS, wrong).causes == ["spec.template.spec.containers[0].ports[0].containerPort"]
    unnamed = job("unnamed")
    del unnamed["spec"]["template"]["spec"]["containers"][0]["name"]
    assert "spec.template.spec.containers[0].name" in api.request("POST", JOBS, unnamed).causes


def test_cel_transition_rules_see_the_old_object(genesys_api):
    api = genesys_api
    design = yaml.safe_load((ROOT / "examples" / "designs" / "gpt2.yaml").read_text())
    tree = design["spec"].pop("tree")
    api.create(design)
    api.patch("Design", "gpt2", {"spec": {"tree": tree}})  # set once: allowed
    changed = copy.deepcopy(tree)
    changed["units"]["GPT2Block"]["code"] = "class GPT2Block: pass"
    with pytest.raises(ApiError, match="spec.tree is immutable"):
        api.patch("Design", "gpt2", {"spec": {"tree": changed}})
    with pytest.raises(ApiError, match="spec.tree cannot be removed once set"):
        api.patch("Design", "gpt2", {"spec": {"tree": None}})


def test_patch_types(kube_api):
    api = kube_api
    api.create(configmap("c"))
    path = f"{CONFIGMAPS}/c"
    test_fails = api.request("PATCH", path, [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
                                             {"op": "add", "path": "/data/x", "value": "1"}],
                             "application/json-patch+json")
    assert test_fails.code == 422  # what kopf expects of a failed resourceVersion test
    rv = api.get("ConfigMap", "c")["metadata"]["resourceVersion"]
    ok = api.request("PATCH", path, [{"op": "test", "path": "/metadata/resourceVersion", "value": rv},
                                     {"op": "add", "path": "/data/x", "value": "1"},
                                     {"op": "remove", "path": "/data/k"}], "application/json-patch+json")
    assert ok.body["data"] == {"x": "1"}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"app": "d"}}, "template": {"metadata": {"labels": {"app": "d"}}, "spec": {
            "containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}}
    api.create(deployment)
    merged = api.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/d", {"spec": {"template": {"spec": {
        "containers": [{"name": "b", "image": "b:2"}]}}}}, "application/strategic-merge-patch+json").body
    assert [(c["name"], c["image"]) for c in merged["spec"]["template"]["spec"]["containers"]] == [
        ("a", "a:1"), ("b", "b:2")]
    applied = api.request("PATCH", f"{CONFIGMAPS}/new?fieldManager=test", b"apiVersion: v1\nkind: ConfigMap\n"
                          b"data: {a: b}\n", "application/apply-patch+yaml")
    assert applied.code == 201 and applied.body["data"] == {"a": "b"}
    assert api.request("PATCH", path, {"data": {}}, "text/plain").code == 415


def test_a_write_that_changes_nothing_is_not_a_write(kube_api):
    created = kube_api.create(configmap("c"))
    written = len(kube_api.history)
    same = kube_api.patch("ConfigMap", "c", {"data": {"k": "v"}})
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert len(kube_api.history) == written


def test_finalizers_hold_a_deleted_object_until_they_are_removed(kube_api):
    api = kube_api
    api.create({**configmap("held"), "metadata": {"name": "held", "finalizers": ["genesys.dev/cleanup"]}})
    deleted = api.request("DELETE", f"{CONFIGMAPS}/held")
    assert deleted.code == 200 and deleted.body["metadata"]["deletionTimestamp"]
    assert api.get("ConfigMap", "held")["metadata"]["deletionTimestamp"]
    more = api.request("PATCH", f"{CONFIGMAPS}/held", {"metadata": {"finalizers": ["genesys.dev/cleanup", "x.io/y"]}},
                       MERGE)
    assert more.code == 422 and "no new finalizers can be added" in more.body["message"]
    api.patch("ConfigMap", "held", {"metadata": {"finalizers": None}})
    assert api.get("ConfigMap", "held") is None
    assert [(w.verb, w.deleted) for w in api.history][-2:] == [("delete", False), ("patch", True)]


def test_label_and_field_selectors(kube_api):
    api = kube_api
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "research"}})
    api.create(configmap("a", {"tier": "gpu", "rung": "cpu-1"}))
    api.create(configmap("b", {"tier": "cpu"}))
    api.create(configmap("c", {}))
    api.create(configmap("d", {"tier": "gpu"}, namespace="research"))

    def names(query: str, path: str = CONFIGMAPS) -> list[str]:
        reply = api.request("GET", f"{path}?{query}")
        assert reply.code == 200, reply.body
        return [i["metadata"]["name"] for i in reply.body["items"]]

    assert names("labelSelector=tier%3Dgpu") == ["a"]
    assert names("labelSelector=tier!%3Dgpu") == ["b", "c"]
    assert names("labelSelector=tier%20in%20(gpu,cpu)") == ["a", "b"]
    assert names("labelSelector=tier%20notin%20(gpu)") == ["b", "c"]
    assert names("labelSelector=tier") == ["a", "b"]
    assert names("labelSelector=!tier") == ["c"]
    assert names("labelSelector=tier%3Dgpu,rung") == ["a"]
    assert names("fieldSelector=metadata.name%3Db") == ["b"]
    assert names("labelSelector=tier%3Dgpu", "/api/v1/configmaps") == ["a", "d"]  # all namespaces
    assert names("fieldSelector=metadata.namespace%3Dresearch", "/api/v1/configmaps") == ["d"]
    assert api.request("GET", f"{CONFIGMAPS}?fieldSelector=data.k%3Dv").code == 400
    first = api.request("GET", f"{CONFIGMAPS}?limit=2").body
    assert [i["metadata"]["name"] for i in first["items"]] == ["a", "b"]
    rest = api.request("GET", f"{CONFIGMAPS}?limit=2&continue={first['metadata']['continue']}").body
    assert [i["metadata"]["name"] for i in rest["items"]] == ["c"] and "continue" not in rest["metadata"]


def test_dry_run_writes_nothing(kube_api):
    reply = kube_api.request("POST", f"{CONFIGMAPS}?dryRun=All", configmap("dry"))
    assert reply.code == 201 and kube_api.get("ConfigMap", "dry") is None and kube_api.history == []


def test_events_k8s_io_events_are_core_events_seen_another_way(kube_api):
    api = kube_api
    posted = api.request("POST", "/apis/events.k8s.io/v1/namespaces/default/events", {
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "pulled"}, "type": "Normal",
        "regarding": {"kind": "Pod", "name": "train-0", "namespace": "default"}, "note": "image pulled",
        "reason": "Pulled", "action": "Pull", "reportingController": "kubelet", "reportingInstance": "node-1",
        "eventTime": "2025-01-01T00:00:00.000000Z"})
    assert posted.code == 201 and posted.body["note"] == "image pulled"
    (core,) = api.objects("Event")
    assert (core["apiVersion"], core["message"], core["involvedObject"]["name"]) == ("v1", "image pulled", "train-0")
    listed = api.request("GET", "/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=regarding.name"
                                "%3Dtrain-0").body["items"]
    assert [e["note"] for e in listed] == ["image pulled"]
    assert "pod/train-0" in api.kubectl("get", "events").stdout


def test_access_reviews_allow_everything(kube_api):
    assert kube_api.kubectl("auth", "can-i", "delete", "pods").stdout.strip() == "yes"
    assert kube_api.request("GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews").code == 405
