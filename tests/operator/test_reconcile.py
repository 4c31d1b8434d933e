"""The planning pass against the emulated API server, the test playing the nodes: outcomes that go wrong.

No kopf and no training here: the test ends each child itself (its Job's conditions, its
pod's exit code, the files it leaves in the store) and runs passes of the Reconciler, as
the kopf timer would. The happy path through real pods is tests/operator/test_end_to_end.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import new_client_from_config

from genesys.api import load_manifest
from genesys.api.artifacts import ArtifactLayout
from genesys.api.session import DesignSessionJob, SessionOutcome, SessionSpend
from genesys.observability.metrics import EvolutionMetrics
from genesys.operator.builders import OperatorConfig
from genesys.operator.cluster import Cluster
from genesys.operator.reconcile import Reconciler
from genesys.operator.validation import admit
from kube_emulator import KubeEmulator
from operator_harness import REPO
from result_builders import build_result

SPEC = {
    "seeds": ["gpt2", "retnet"],
    "ladder": {"preset": "cpu", "rungs": [{"name": "cpu-1", "runs": 4}]},
    "designer": {"kind": "gp"}, "selection": {"warmupDesigns": 1},
    "parallelism": {"designSessions": 1, "verifications": 2}, "stop": {"maxDesigns": 1}, "seed": 0,
}


class Nodes:
    """What the test does in place of the Job controller and the kubelet."""

    def __init__(self, api: KubeEmulator, layout: ArtifactLayout):
        self.api = api
        self.layout = layout

    def end(self, job: str, *, code: int, disrupted: bool = False) -> None:
        """The Job's pod exited with `code` (0: Complete; else Failed as the podFailurePolicy decides)."""
        conditions = [{"type": "DisruptionTarget", "status": "True"}] if disrupted else []
        pod = self.api.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": f"{job}-0-x", "namespace": "default",
            "labels": {"batch.kubernetes.io/job-name": job, "genesys.dev/evolution": "demo"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}})
        self.api.patch_status("Pod", pod["metadata"]["name"], {
            "phase": "Succeeded" if code == 0 else "Failed", "conditions": conditions,
            "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": False, "restartCount": 0,
                                   "state": {"terminated": {"exitCode": code}}}]})
        kind = "Complete" if code == 0 else "Failed"
        self.api.patch_status("jobs.batch", job, {"conditions": [{"type": kind, "status": "True"}]})

    def write(self, url: str, text: str) -> None:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        Path(url).write_text(text)


@contextmanager
def started(tmp_path: Path, spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """An Evolution of `spec`, admitted and initialised as the create handler does, with the Reconciler."""
    with KubeEmulator() as api:
        api.apply(REPO / "crds" / "manifests")
        config = OperatorConfig(namespace="default", store=str(tmp_path / "store"), agent_image="a",
                                trainer_image="t", max_attempts=2)
        events: list[tuple[str, str, str]] = []
        metrics = EvolutionMetrics()
        reconciler = Reconciler(Cluster(new_client_from_config(str(api.kubeconfig)), "default"), config,
                                events=lambda obj, kind, reason, msg: events.append((kind, reason, msg)),
                                metrics=metrics)
        body = api.create({"apiVersion": "genesys.dev/v1alpha1", "kind": "Evolution",
                           "metadata": {"name": "demo", "namespace": "default"}, "spec": spec})
        evolution = admit(body)
        reconciler.initialize(evolution)
        body = api.patch_status("Evolution", "demo", {"phase": "Running", "startTime": "2026-11-30T10:00:00Z"})
        layout = ArtifactLayout(root=config.store, evolution="demo")
        yield {"api": api, "reconciler": reconciler, "evolution": evolution, "events": events,
               "nodes": Nodes(api, layout), "layout": layout, "metrics": metrics}


@pytest.fixture
def cluster(tmp_path) -> Any:
    with started(tmp_path, SPEC) as cluster:
        yield cluster


def _pass(cluster: Any) -> Any:
    body = cluster["api"].get("Evolution", "demo")
    return cluster["reconciler"].reconcile(body, cluster["evolution"])


def _status(cluster: Any, kind: str, name: str) -> dict:
    return cluster["api"].get(kind, name)["status"]


def test_a_first_pass_starts_the_seeds_verifications_and_a_session(cluster):
    _pass(cluster)
    api = cluster["api"]
    assert sorted(j["metadata"]["name"] for j in api.objects("jobs.batch", "default")) == [
        "demo-design-0001", "demo-gpt2-cpu-1", "demo-retnet-cpu-1"]
    assert _status(cluster, "Design", "demo-design-0001")["sessionAttempts"] == 1
    assert _status(cluster, "VerificationJob", "demo-gpt2-cpu-1")["phase"] in ("Pending", "Running")
    budget = _status(cluster, "ScaleBudget", "demo-cpu-1")["runs"]
    assert budget == {"total": 4, "released": 4, "used": 0, "running": 2}
    _pass(cluster)  # again, nothing changed: nothing new
    assert len(api.objects("jobs.batch", "default")) == 3


def test_a_malformed_result_a_missing_result_and_a_failed_session_each_fail_with_their_reason(cluster):
    _pass(cluster)
    nodes, layout = cluster["nodes"], cluster["layout"]
    nodes.write(layout.result_file("gpt2-cpu-1"), "{not json")
    nodes.end("demo-gpt2-cpu-1", code=0)
    nodes.end("demo-retnet-cpu-1", code=1)  # crashed before writing result.json
    outcome = SessionOutcome(design="design-0001", status="failed", stage="proposal", reason="no proposal parsed")
    nodes.write(layout.outcome_file("design-0001"), outcome.to_json())
    nodes.end("demo-design-0001", code=1)
    _pass(cluster)
    gpt2 = _status(cluster, "VerificationJob", "demo-gpt2-cpu-1")
    assert gpt2["phase"] == "Failed" and gpt2["reason"].startswith("malformed_result"), gpt2
    retnet = _status(cluster, "VerificationJob", "demo-retnet-cpu-1")
    assert retnet["phase"] == "Failed" and "exited with code 1 without writing result.json" in retnet["reason"]
    assert "kubectl logs" in retnet["reason"]
    session = _status(cluster, "Design", "demo-design-0001")
    assert (session["phase"], session["failure"]) == ("Failed", "SessionFailed")
    assert session["reason"] == "proposal: no proposal parsed"
    gpt2_design = _status(cluster, "Design", "demo-gpt2")
    assert gpt2_design["phase"] == "Failed" and gpt2_design["failure"] == "VerificationFailed"
    (verified,) = gpt2_design["conditions"]
    assert (verified["type"], verified["status"], verified["reason"]) == ("Verified", "False", "VerificationFailed")
    reasons = {reason for _, reason, _ in cluster["events"]}
    assert {"VerificationFailed", "SessionFailed"} <= reasons


def test_a_vanished_or_preempted_child_is_started_again_under_its_name_and_then_fails_uncharged(cluster):
    _pass(cluster)
    api, nodes = cluster["api"], cluster["nodes"]
    api.delete("jobs.batch", "demo-gpt2-cpu-1")  # gone (a node lost with it)
    _pass(cluster)
    job = api.get("jobs.batch", "demo-gpt2-cpu-1")
    assert job["metadata"]["annotations"]["genesys.dev/attempt"] == "2"
    assert _status(cluster, "VerificationJob", "demo-gpt2-cpu-1")["attempts"] == 2
    job_file = Path(cluster["layout"].job_file("gpt2-cpu-1")).read_text()
    assert "attempt: 2" in job_file
    interrupted = build_result("gpt2", "cpu-1", status="interrupted", reason="preempted")
    nodes.write(cluster["layout"].result_file("gpt2-cpu-1"), interrupted.to_json())
    nodes.end("demo-gpt2-cpu-1", code=3, disrupted=True)
    _pass(cluster)  # max_attempts 2: the second loss fails it, uncharged
    status = _status(cluster, "VerificationJob", "demo-gpt2-cpu-1")
    assert status["phase"] == "Failed" and status["charged"] is False and "preempted" in status["reason"]
    assert _status(cluster, "ScaleBudget", "demo-cpu-1")["runs"]["used"] == 0


LLM_SPEC = {**SPEC, "designer": {"kind": "llm", "llm": {"roles": {"default": {"models": [{"model": "openai/m"}]}},
                                                         "evolutionCostCapUSD": 0.5}},
            "stop": {}}


def _end_seed_verifications(cluster: Any) -> None:
    for seed in ("gpt2", "retnet"):
        cluster["nodes"].write(cluster["layout"].result_file(f"{seed}-cpu-1"), build_result(seed, "cpu-1").to_json())
        cluster["nodes"].end(f"demo-{seed}-cpu-1", code=0)


def _fail_session(cluster: Any, name: str, stage: str, reason: str, usd: float) -> None:
    outcome = SessionOutcome(design=name, status="failed", stage=stage, reason=reason,
                             spend=SessionSpend(llm_calls=3, tokens=900, usd=usd))
    cluster["nodes"].write(cluster["layout"].outcome_file(name), outcome.to_json())
    cluster["nodes"].end(f"demo-{name}", code=1)


def _spent(cluster: Any, name: str) -> float:
    job = load_manifest(Path(cluster["layout"].session_job_file(name)), DesignSessionJob)
    return job.spec.spent_usd


def test_llm_spend_reaches_jobs_statuses_and_metrics_and_the_cost_cap_ends_the_run(tmp_path):
    with started(tmp_path, LLM_SPEC) as cluster:
        _pass(cluster)
        assert _spent(cluster, "design-0001") == 0.0
        _end_seed_verifications(cluster)
        _fail_session(cluster, "design-0001", "check", "no candidate passed the checker", 0.3)
        result = _pass(cluster)
        assert _status(cluster, "Design", "demo-design-0001")["sessionUsd"] == 0.3
        assert result.evolution_status["spend"]["usd"] == 0.3 and result.completed is None
        assert _spent(cluster, "design-0002") == 0.3  # what the others spent when it started

        _fail_session(cluster, "design-0002", "budget", "the session cost cap was reached", 0.25)
        result = _pass(cluster)  # $0.55 of $0.50: no new session, and nothing else to verify
        assert cluster["api"].get("Design", "demo-design-0003") is None
        assert result.completed is not None and not result.completed.failed
        assert result.completed.reason.startswith("designer.llm.evolutionCostCapUSD reached ($0.55 of $0.50")
        assert result.evolution_status["spend"]["usd"] == 0.55
        assert 'genesys_llm_spend_usd_total{evolution="demo"} 0.55' in cluster["metrics"].exposition()
        ended = cluster["reconciler"].ending(cluster["api"].get("Evolution", "demo"), result.completed)
        assert ended["phase"] == "Completed" and ended["conditions"][0]["reason"] == "Completed"
        assert ("Normal", "Completed", result.completed.reason) in cluster["events"]


def test_a_first_session_that_finds_the_llm_unusable_fails_the_evolution_with_a_warning(tmp_path):
    """The operator holds no key: the first session is its preflight."""
    with started(tmp_path, LLM_SPEC) as cluster:
        _pass(cluster)
        why = "authentication failed: openai/m refused the key (llm.secret llm-keys, key OPENAI_API_KEY)"
        _fail_session(cluster, "design-0001", "unavailable", why, 0.0)
        assert _pass(cluster).completed is None  # its elders, the seeds' verifications, still run
        _end_seed_verifications(cluster)
        result = _pass(cluster)
        session = _status(cluster, "Design", "demo-design-0001")
        assert (session["phase"], session["reason"]) == ("Failed", f"unavailable: {why}")
        assert cluster["api"].get("Design", "demo-design-0002") is None  # no later session would do better
        assert result.completed is not None and result.completed.failed and why in result.completed.reason

        ended = cluster["reconciler"].ending(cluster["api"].get("Evolution", "demo"), result.completed)
        (ready,) = ended["conditions"]
        assert ended["phase"] == "Failed" and ended["completedReason"] == result.completed.reason
        assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", "DesignerUnavailable")
        assert why in ready["message"]
        assert ("Warning", "DesignerUnavailable", result.completed.reason) in cluster["events"]
