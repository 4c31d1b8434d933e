"""The hooks fault tests use: history, request_log (RBAC triples), on_write callbacks, kmock reactions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import kmock
import yaml

import kube_emulator
from kube_emulator import RequestRecord

SUPPORT = Path(kube_emulator.__file__).resolve().parents[1]

EVOLUTIONS = "/apis/genesys.dev/v1alpha1/namespaces/default/evolutions"


def test_history_records_every_write_in_order_with_copies(genesys_api, quick):
    api = genesys_api
    api.create(quick())
    api.patch_status("Evolution", "quick", {"phase": "Running"})
    api.patch("Evolution", "quick", {"spec": {"seed": 3}})
    api.history[-1].object["spec"]["seed"] = 99  # a copy: the server's state is untouched
    assert api.get("Evolution", "quick")["spec"]["seed"] == 3
    api.delete("Evolution", "quick")
    history = [w for w in api.history if w.kind != "CustomResourceDefinition"]
    assert [(w.verb, w.kind, w.name, w.resource) for w in history] == [
        ("create", "Evolution", "quick", "evolutions"), ("patch", "Evolution", "quick", "evolutions/status"),
        ("patch", "Evolution", "quick", "evolutions"), ("delete", "Evolution", "quick", "evolutions")]
    versions = [int(w.resource_version) for w in history]
    assert versions == sorted(versions) and len(set(versions)) == 4
    assert [w.object["metadata"]["generation"] for w in history] == [1, 1, 2, 2]
    assert history[1].object["status"]["phase"] == "Running" and "status" not in history[0].object
    assert history[-1].deleted and history[-1].user_agent == "test"


def test_request_log_classifies_verbs_as_rbac_does(genesys_api, quick):
    api = genesys_api
    api.kubectl("apply", "-f", "-", input=yaml.safe_dump(quick()))
    api.request("PATCH", f"{EVOLUTIONS}/quick/status", {"status": {"phase": "Running"}},
                "application/merge-patch+json")
    api.request("GET", f"{EVOLUTIONS}?watch=true&timeoutSeconds=0.1")
    api.request("PUT", f"{EVOLUTIONS}/quick", api.get("Evolution", "quick"))
    api.request("DELETE", EVOLUTIONS)
    assert {("genesys.dev", "evolutions", "get"), ("genesys.dev", "evolutions", "create"),
            ("genesys.dev", "evolutions/status", "patch"), ("genesys.dev", "evolutions", "watch"),
            ("genesys.dev", "evolutions", "update"), ("genesys.dev", "evolutions", "deletecollection")} \
        <= api.rbac_triples()
    assert api.rbac_triples("kubectl") == {("genesys.dev", "evolutions", "get"),
                                           ("genesys.dev", "evolutions", "create")}
    created = next(r for r in api.request_log if r.verb == "create")
    assert isinstance(created, RequestRecord) and created.namespace == "default" and created.code == 201
    assert any(r.group is None and r.path == "/openapi/v3" for r in api.request_log)


def test_on_write_callbacks_run_right_after_the_write(genesys_api):
    api = genesys_api
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    seen = []

    @api.on_write
    def kill_on_verification(verb: str, obj: dict) -> None:
        seen.append((verb, obj["kind"]))
        if verb == "create" and obj["kind"] == "VerificationJob":
            victim.kill()

    api.create({"apiVersion": "genesys.dev/v1alpha1", "kind": "VerificationJob", "metadata": {"name": "vj"},
                "spec": {"design": "gpt2", "rung": "cpu-1"}})
    assert victim.wait(5) == -signal.SIGKILL  # killed from the hook, before create() returned
    assert seen == [("create", "VerificationJob")]
    api.remove_on_write(kill_on_verification)

    def broken(verb: str, obj: dict) -> None:
        raise RuntimeError("hook failed")

    api.on_write(broken)
    api.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    assert api.get("ConfigMap", "c") is not None  # the server carries on
    assert "hook failed" in api.callback_errors[0]


def test_kmock_reactions_inject_faults_before_the_emulator(kube_api):
    api = kube_api
    api.kmock["list", kmock.resource("", "v1", "configmaps")][:1] << 503 << {
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503, "reason": "ServiceUnavailable",
        "message": "injected"}
    failed = api.kubectl("get", "configmaps", check=False)
    assert failed.returncode != 0 and "injected" in failed.stderr
    assert api.kubectl("get", "configmaps").returncode == 0  # the reaction served one request only
    assert [r.code for r in api.request_log if r.resource == "configmaps"] == [503, 200]
    assert any(r.action == kmock.action.LIST for r in api.kmock)  # kmock keeps every request


def test_the_standalone_command_serves_and_writes_a_kubeconfig(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "kube_emulator", "--kubeconfig", str(kubeconfig)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(SUPPORT)})
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line
        done = subprocess.run(["kubectl", f"--kubeconfig={kubeconfig}", "get", "namespaces", "-o", "name"],
                              capture_output=True, text=True, timeout=30)
        assert "namespace/default" in done.stdout.split(), done.stderr
    finally:
        proc.terminate()
    assert proc.wait(10) == 0  # SIGTERM stops it cleanly


def test_enforced_rbac_answers_403_and_access_reviews_follow_it(kube_api):
    api = kube_api
    api.enforce_rbac("kubectl", {("", "configmaps", "get"), ("", "configmaps", "list")})
    assert api.kubectl("get", "configmaps").returncode == 0
    denied = api.kubectl("create", "configmap", "x", "--from-literal=a=b", check=False)
    assert denied.returncode != 0
    assert 'configmaps is forbidden: User "kubectl/' in denied.stderr
    assert 'cannot create resource "configmaps" in API group "" in the namespace "default"' in denied.stderr
    assert api.kubectl("auth", "can-i", "create", "configmaps", check=False).stdout.strip() == "no"
    assert api.kubectl("auth", "can-i", "list", "configmaps").stdout.strip() == "yes"
    assert ("", "configmaps", "create") in api.rbac_triples("kubectl")
    assert ("", "configmaps", "create") not in api.rbac_triples("kubectl", denied=False)
    assert api.request("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "y"}}).code == 201
