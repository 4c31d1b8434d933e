"""Real `kopf run` (a subprocess) against the emulated API server: discovery, list+watch, patches, events, peering."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kube_emulator import KubeEmulator

OPERATOR = '''
import kopf

@kopf.on.create("genesys.dev", "v1alpha1", "evolutions")
def created(body, spec, patch, **_):
    kopf.info(body, reason="Started", message="seeds: " + ", ".join(spec["seeds"]))
    patch.status["phase"] = "Running"
    patch.metadata.annotations["genesys.dev/handled"] = "yes"

@kopf.on.delete("genesys.dev", "v1alpha1", "evolutions")
def deleted(body, **_):
    kopf.info(body, reason="Deleting", message="cleaning up")
'''
PEERING_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "clusterkopfpeerings.kopf.dev"},
    "spec": {"group": "kopf.dev", "scope": "Cluster", "names": {
        "kind": "ClusterKopfPeering", "plural": "clusterkopfpeerings", "singular": "clusterkopfpeering"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object", "properties": {"status": {"type": "object",
                                                        "x-kubernetes-preserve-unknown-fields": True}}}}}]},
}


@contextlib.contextmanager
def kopf_run(api: KubeEmulator, tmp_path: Path, *flags: str, extra: str = "") -> Iterator[Path]:
    """`kopf run` of OPERATOR (plus `extra` code) with `flags` while the block runs; yields its log file."""
    operator = tmp_path / "operator.py"
    operator.write_text(OPERATOR + extra)
    log = tmp_path / "kopf.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "kopf", "run", "--verbose", *flags, str(operator)],
                                env=api.env, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def phase(api: KubeEmulator) -> Any:
    evolution = api.get("Evolution", "quick") or {}
    return (evolution.get("status") or {}).get("phase")


def test_a_standalone_kopf_operator_handles_a_creation_and_patches_status(genesys_api, quick, tmp_path):
    api = genesys_api
    api.create(quick())
    with kopf_run(api, tmp_path, "--standalone", "-A"):
        api.wait_for(lambda: phase(api) == "Running", 30, "the create handler to patch the status")
        api.wait_for(lambda: [e for e in api.objects("Event") if e["involvedObject"]["name"] == "quick"], 15,
                     "kopf to post an event")
        evolution = api.get("Evolution", "quick")
        assert evolution["metadata"]["annotations"]["genesys.dev/handled"] == "yes"
        assert "kopf.zalando.org/last-handled-configuration" in evolution["metadata"]["annotations"]
        assert evolution["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
        api.kubectl("delete", "evolution", "quick", "--timeout=30s")  # waits until kopf lets it go
        assert api.get("Evolution", "quick") is None
        api.wait_for(lambda: any(e["reason"] == "Deleting" for e in api.objects("Event")), 15, "the delete event")
    used = api.rbac_triples("kopf")
    assert {("genesys.dev", "evolutions", "list"), ("genesys.dev", "evolutions", "watch"),
            ("genesys.dev", "evolutions", "patch"), ("genesys.dev", "evolutions/status", "patch"),
            ("", "events", "create")} <= used, used
    events = api.kubectl("get", "events").stdout
    assert "evolution/quick" in events and "seeds: gpt2, retnet" in events, events


def test_kopf_with_peering_registers_itself_and_handles(genesys_api, quick, tmp_path):
    api = genesys_api
    api.create(PEERING_CRD)
    api.create({"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "genesys"}})
    with kopf_run(api, tmp_path, "--peering=genesys", "-A"):
        api.wait_for(lambda: (api.get("ClusterKopfPeering", "genesys") or {}).get("status"), 30,
                     "kopf to announce itself in the peering object")
        api.create(quick())
        api.wait_for(lambda: phase(api) == "Running", 30, "the create handler to patch the status")
    assert api.rbac_triples("kopf") >= {("kopf.dev", "clusterkopfpeerings", "patch")}


GRANTED = {("genesys.dev", "evolutions", verb) for verb in ("get", "list", "watch", "patch")} | {
    ("genesys.dev", "evolutions/status", "patch"), ("", "events", "create"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch")}


def test_kopf_in_one_namespace_under_enforced_rbac_falls_back_where_denied(genesys_api, quick, tmp_path):
    api = genesys_api
    api.enforce_rbac("kopf", GRANTED)
    api.create(quick())
    # kopf retries a 403 as it would in a real cluster (about a minute by default): retry briefly here
    quick_retries = ("\n@kopf.on.startup()\ndef configure(settings, **_):\n"
                     "    settings.networking.error_backoffs = [0.1, 0.1]\n")
    with kopf_run(api, tmp_path, "--standalone", "--namespace", "default", extra=quick_retries) as log:
        api.wait_for(lambda: phase(api) == "Running", 30, "the create handler to patch the status")
    assert "Not enough permissions to list namespaces" in log.read_text()
    denied = [r for r in api.request_log if r.user_agent.startswith("kopf") and r.code == 403]
    assert {(r.group, r.resource, r.verb) for r in denied} == {("", "namespaces", "list")}
    assert api.rbac_triples("kopf", denied=False) <= GRANTED
