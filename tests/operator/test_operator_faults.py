"""The operator under faults: killed mid-pass, watch lag, a preempted pod, a spent rung, a bad Evolution.

One emulated cluster with the Kubeflow training operator's PyTorchJob CRD (so training runs
as PyTorchJobs; the end-to-end test covers Indexed Jobs), the process kubelet and a real
`kopf run`; a two-seed Evolution whose only rung has one run, so one seed is verified and
the rung is then spent.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from genesys.operator.cluster import USER_AGENT
from kube_emulator import KubeEmulator
from operator_harness import REPO, STORE_ENV, OperatorProcess, kubectl, kubectl_objects, logical, nodes, wait_for
from process_kubelet import PYTORCHJOB_CRD

pytestmark = pytest.mark.slow

FAULTS = {
    "apiVersion": "genesys.dev/v1alpha1", "kind": "Evolution", "metadata": {"name": "faults"},
    "spec": {
        "seeds": ["gpt2", "retnet"],
        "ladder": {"preset": "cpu", "overrides": {"eval_limit": 20},
                   "rungs": [{"name": "cpu-1", "runs": 1, "overrides": {"tokens": 65536}}]},
        "designer": {"kind": "gp"}, "parallelism": {"designSessions": 1, "verifications": 2},
        "stop": {"maxDesigns": 0}, "seed": 0,
    },
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Any:
    root = tmp_path_factory.mktemp("faults")
    store = root / "store"
    store.mkdir()
    with KubeEmulator() as api:
        kubeconfig = Path(api.kubeconfig)
        kubectl(kubeconfig, "apply", "-f", str(REPO / "crds" / "manifests"))
        kubectl(kubeconfig, "apply", "-f", str(PYTORCHJOB_CRD))
        with nodes(kubeconfig, root, store, grace_seconds=5) as kubelet:
            op = OperatorProcess(kubeconfig, store, root / "operator.log", extra_env=STORE_ENV)
            op.start()
            try:
                yield {"api": api, "kubeconfig": kubeconfig, "kubelet": kubelet, "operator": op, "root": root}
            finally:
                op.stop(signal.SIGTERM)


def _status(kubeconfig: Path, kind: str, name: str) -> dict:
    found = [o for o in kubectl_objects(kubeconfig, kind) if o["metadata"]["name"] == name]
    return (found[0].get("status") or {}) if found else {}


def test_an_evolution_the_operator_cannot_run_is_refused_and_nothing_is_spawned(cluster):
    kubeconfig, api = cluster["kubeconfig"], cluster["api"]
    bad = {**FAULTS, "metadata": {"name": "bad"}, "spec": {**FAULTS["spec"], "seeds": ["gpt2", "designs/mine.yaml"]}}
    path = cluster["root"] / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    kubectl(kubeconfig, "apply", "-f", str(path))
    status = wait_for(lambda: _status(kubeconfig, "evolutions", "bad").get("phase") == "Failed"
                      and _status(kubeconfig, "evolutions", "bad"), 60, "the bad Evolution to be refused",
                      on_timeout=cluster["operator"].tail)
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert ready["status"] == "False" and ready["reason"] == "Invalid" and "spec.seeds" in ready["message"]
    events = kubectl(kubeconfig, "get", "events", "--field-selector", "involvedObject.name=bad").stdout
    assert "Invalid" in events and "spec.seeds" in events
    assert not [o for kind in ("designs", "scalebudgets") for o in api.objects(kind, "default")
                if o["metadata"].get("labels", {}).get("genesys.dev/evolution") == "bad"]
    kubectl(kubeconfig, "delete", "evolution", "bad")


def test_killed_between_a_verification_job_and_its_child_under_watch_lag_then_a_preempted_pod(cluster):
    api, kubeconfig, kubelet, op = cluster["api"], cluster["kubeconfig"], cluster["kubelet"], cluster["operator"]
    api.watch_delay_seconds = 1.5  # every watch event reaches kopf late
    killed = threading.Event()

    def kill_after_first_verification_job(verb: str, obj: dict) -> None:
        if verb == "create" and obj.get("kind") == "VerificationJob" and not killed.is_set():
            killed.set()
            assert op.process is not None
            os.killpg(op.process.pid, signal.SIGKILL)  # before it can create the child

    api.on_write(kill_after_first_verification_job)
    path = cluster["root"] / "faults.yaml"
    path.write_text(yaml.safe_dump(FAULTS))
    kubectl(kubeconfig, "apply", "-f", str(path))
    wait_for(killed.is_set, 120, "the first VerificationJob", on_timeout=op.tail)
    api.remove_on_write(kill_after_first_verification_job)
    op.process.wait(timeout=30)
    op.process = None
    op.start()

    def training_pod() -> str | None:
        pods = [p for p in api.objects("pods", "default")
                if p["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "training"
                and (p.get("status") or {}).get("phase") == "Running"]
        return pods[0]["metadata"]["name"] if pods else None

    preempted = wait_for(training_pod, 180, "a running training pod", interval=0.5, on_timeout=op.tail)
    wait_for(lambda: any(v["metadata"].get("annotations", {}).get("genesys.dev/rank-zero-pod")
                         for v in api.objects("verificationjobs", "default")), 60,
             "the operator to see the training pod", interval=0.2, on_timeout=op.tail)
    (training,) = [logical(v) for v in api.objects("verificationjobs", "default")]
    metrics = cluster["root"] / "store" / "faults" / "verifications" / training / "metrics.jsonl"
    wait_for(lambda: metrics.exists() and '"step"' in metrics.read_text(), 300, "ten training steps",
             interval=0.2, on_timeout=op.tail)  # (log_every): preempted mid-run, it saves a checkpoint
    kubelet.preempt(preempted)
    wait_for(lambda: _status(kubeconfig, "evolutions", "faults").get("phase") == "Completed", 900,
             "the Evolution to complete", interval=2, on_timeout=op.tail)

    vjs = [o for o in kubectl_objects(kubeconfig, "verificationjobs") if o["spec"]["evolution"] == "faults"]
    assert len(vjs) == 1 and vjs[0]["status"]["phase"] == "Succeeded", vjs  # the spent rung admitted no second
    completed = _status(kubeconfig, "evolutions", "faults")
    assert "budget is spent" in completed["completedReason"], completed
    budget = [b for b in kubectl_objects(kubeconfig, "scalebudgets") if b["spec"]["evolution"] == "faults"][0]
    assert budget["status"]["runs"] == {"total": 1, "released": 1, "used": 1, "running": 0}

    vj = vjs[0]
    assert vj["status"]["attempts"] == 2, vj["status"]  # the preempted run was started again...
    assert '"resumed"' in metrics.read_text()  # ...from the checkpoint it saved when it was stopped

    writes = [w for w in api.history if w.object.get("metadata", {}).get("labels", {}).get(
        "genesys.dev/evolution") == "faults"]
    created = Counter((w.kind, w.name) for w in writes if w.verb == "create")
    # no duplicates: each resource once, one training child per start of the verification by the operator
    # (the training operator restarts a preempted pod itself, under the same name)
    assert all(n == 1 for (kind, _), n in created.items() if kind not in ("PyTorchJob", "Pod")), created
    started = int(vj["metadata"]["annotations"]["genesys.dev/attempt"])
    assert [n for (kind, _), n in created.items() if kind == "PyTorchJob"] == [started], created
    for w in writes:  # at every recorded write: never more running and used than released
        if w.kind == "ScaleBudget" and (runs := (w.object.get("status") or {}).get("runs")):
            assert runs["used"] + runs["running"] <= runs["released"] <= runs["total"], runs
    live: set[str] = set()  # and never two training children of one verification alive at once
    for w in writes:
        if w.kind == "PyTorchJob":
            assert not (w.verb == "create" and w.name in live), f"{w.name} created while one was alive"
            (live.discard if w.deleted else live.add)(w.name)
    from chart_render import render_chart, rendered_rbac_triples

    used = api.rbac_triples(user_agent="kopf") | api.rbac_triples(user_agent=USER_AGENT)
    assert used <= rendered_rbac_triples(render_chart()), sorted(used - rendered_rbac_triples(render_chart()))
    assert {("kubeflow.org", "pytorchjobs", "list"), ("kubeflow.org", "pytorchjobs", "create")} <= used
    pods = [w.name for w in api.history if w.kind == "Pod" and w.verb == "create"
            and w.object["metadata"].get("labels", {}).get("genesys.dev/evolution") == "faults"]
    assert preempted in pods and len(pods) == 2
