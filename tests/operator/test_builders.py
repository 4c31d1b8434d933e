"""Every child manifest, pinned by golden files, and the rules all of them keep.

Regenerate the golden files after an intended change with GENESYS_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from genesys.api import VerificationJob, dump_manifest
from genesys.api.seed_library import load_seed
from genesys.evolution import StartDesignSession, StartVerification, budget_usage, rung_budgets
from genesys.evolution.state import EvolutionState, VerificationRecord
from genesys.operator.builders import (
    build_design,
    build_scale_budgets,
    build_seed_design,
    build_session_job,
    build_verification_job,
    scale_budget_status,
    session_job_manifest,
    verification_job_manifest,
)
from genesys.operator.training import build_training

GOLDEN = Path(__file__).parent / "golden"
SESSION = StartDesignSession("design-0003", "crossover", ("gpt2", "mamba2"), seed=1234)
VERIFY = StartVerification("gpt2-paper-14m-r1", "gpt2", "paper-14m", repeat=1)


def _golden(name: str, *objects: Any) -> None:
    text = yaml.safe_dump_all(objects, sort_keys=False, width=100)
    path = GOLDEN / name
    if os.environ.get("GENESYS_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: if intended, GENESYS_UPDATE_GOLDEN=1"


def _created(obj: dict) -> dict:
    """`obj` as the API server returns it after create: a uid, no status yet."""
    out = {k: v for k, v in obj.items() if k != "status"}
    out["metadata"] = {**obj["metadata"], "uid": f"uid-{obj['metadata']['name']}"}
    return out


def _children(evolution, config):
    design = _created(build_design(evolution, SESSION, config, start=5))
    session_job = build_session_job(evolution, design, config)
    seed = _created(build_seed_design(evolution, load_seed("gpt2"), 0, config))
    vj = _created(build_verification_job(evolution, VERIFY, seed, config, checked=False, start=6))
    return design, session_job, seed, vj


def _pods(obj: dict) -> Iterator[dict]:
    """The pod specs inside a Job or a PyTorchJob."""
    if obj["kind"] == "Job":
        yield obj["spec"]["template"]["spec"]
    elif obj["kind"] == "PyTorchJob":
        for replica in obj["spec"]["pytorchReplicaSpecs"].values():
            yield replica["template"]["spec"]


def test_design_and_session_job_golden(cluster_evolution, config):
    design, session_job, seed, _ = _children(cluster_evolution, config)
    _golden("design.yaml", build_design(cluster_evolution, SESSION, config, start=5))
    _golden("session_job.yaml", session_job)
    _golden("session_job_file.yaml", yaml.safe_load(dump_manifest(session_job_manifest(cluster_evolution, SESSION,
                                                                                       config))))
    assert seed["spec"]["tree"]["root"] and build_seed_design(cluster_evolution, load_seed("gpt2"), 0,
                                                              config)["status"] == {"phase": "Implemented", "order": 0}


def test_verification_and_training_golden(cluster_evolution, config):
    _, _, seed, vj = _children(cluster_evolution, config)
    _golden("verification_job.yaml", build_verification_job(cluster_evolution, VERIFY, seed, config, checked=False,
                                                             start=6))
    _golden("pytorch_job.yaml", *build_training(cluster_evolution, vj, replace(config, pytorchjob_available=True)))
    _golden("indexed_job.yaml", *build_training(cluster_evolution, vj, config))


def test_scale_budgets_golden(cluster_evolution, config):
    budgets = build_scale_budgets(cluster_evolution, config)
    assert [b["spec"]["runs"] for b in budgets] == [16, 4]
    state = EvolutionState(verifications=(
        VerificationRecord("gpt2-paper-14m", "gpt2", "paper-14m", "succeeded", device_seconds=7200.0),
        VerificationRecord("mamba2-paper-14m", "mamba2", "paper-14m", "running")))
    usage = budget_usage(state, rung_budgets(cluster_evolution.spec.ladder))
    budgets[0]["status"] = scale_budget_status(usage["paper-14m"])
    _golden("scale_budgets.yaml", *budgets)


def test_the_trainer_reads_the_verification_job_the_resource_holds(cluster_evolution, config):
    _, _, _, vj = _children(cluster_evolution, config)
    job = verification_job_manifest(vj, attempt=2)
    assert job.metadata.name == "gpt2-paper-14m-r1" and job.spec.attempt == 2 and job.spec.seed == 7 + 1
    assert job.spec.design == "s3://genesys-runs/demo/designs/gpt2/design.yaml" and job.spec.check
    assert isinstance(job, VerificationJob)


def test_ownership_chain(cluster_evolution, config):
    design, session_job, seed, vj = _children(cluster_evolution, config)
    owner = {o["kind"]: o["name"] for o in design["metadata"]["ownerReferences"]}
    assert owner == {"Evolution": "demo"} == {o["kind"]: o["name"] for o in seed["metadata"]["ownerReferences"]}
    assert session_job["metadata"]["ownerReferences"][0]["uid"] == "uid-demo-design-0003"
    assert vj["metadata"]["ownerReferences"][0]["uid"] == "uid-demo-gpt2"
    for pytorch in (True, False):
        for child in build_training(cluster_evolution, vj, replace(config, pytorchjob_available=pytorch)):
            assert child["metadata"]["ownerReferences"][0]["uid"] == "uid-demo-gpt2-paper-14m-r1"
    for budget in build_scale_budgets(cluster_evolution, config):
        assert budget["metadata"]["ownerReferences"][0]["kind"] == "Evolution"


def test_pods_hold_no_credentials_and_only_agents_get_the_llm_key(cluster_evolution, config):
    design, session_job, _, vj = _children(cluster_evolution, config)
    jobs = [session_job, *build_training(cluster_evolution, vj, config),
            *build_training(cluster_evolution, vj, replace(config, pytorchjob_available=True))]
    for job in jobs:
        for pod in _pods(job):
            assert pod["automountServiceAccountToken"] is False
            assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"] == {
                "type": "RuntimeDefault"}
            for c in pod["containers"]:
                assert c["securityContext"]["readOnlyRootFilesystem"] and c["securityContext"]["capabilities"] == {
                    "drop": ["ALL"]}
                assert {m["mountPath"] for m in c["volumeMounts"]} >= {"/tmp", "/var/cache/genesys"}
                secrets = {e["secretRef"]["name"] for e in c.get("envFrom", [])}
                assert ("llm-keys" in secrets) == (job is session_job), job["kind"]
                assert "genesys-store" in secrets


def test_failure_policies_map_the_entry_points_exit_codes(cluster_evolution, config):
    _, session_job, _, vj = _children(cluster_evolution, config)
    _, indexed = build_training(cluster_evolution, vj, config)
    for job in (session_job, indexed):
        rules = job["spec"]["podFailurePolicy"]["rules"]
        assert rules[0] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
        actions = {code: r["action"] for r in rules if "onExitCodes" in r for code in r["onExitCodes"]["values"]}
        assert actions[2] == "FailJob" and actions[3] == "Count"
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"  # podFailurePolicy requires it
        assert job["spec"]["backoffLimit"] == config.max_attempts - 1
    assert 1 not in {c for r in indexed["spec"]["podFailurePolicy"]["rules"] if r["action"] == "FailJob"
                     for c in r["onExitCodes"]["values"]}  # two nodes: a lost peer's exit 1 is retried


def test_kueue_only_when_the_evolution_names_a_queue(cluster_evolution, config, make_evolution):
    _, session_job, _, vj = _children(cluster_evolution, config)
    pytorch = build_training(cluster_evolution, vj, replace(config, pytorchjob_available=True))[0]
    assert session_job["spec"]["suspend"] and pytorch["spec"]["runPolicy"]["suspend"]
    assert session_job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "genesys-gpus"
    quiet = make_evolution({"seeds": ["gpt2"]})
    _, job, _, vj = _children(quiet, config)
    service, indexed = build_training(quiet, vj, config)
    for obj in (job, indexed):
        assert "suspend" not in obj["spec"] and "kueue.x-k8s.io/queue-name" not in obj["metadata"]["labels"]
    assert indexed["spec"]["completions"] == 1 and service["spec"]["clusterIP"] == "None"
    assert "resources" not in indexed["spec"]["template"]["spec"]["containers"][0]  # namespace defaults


def test_training_resources_come_from_the_rung(cluster_evolution, config):
    seed = _created(build_seed_design(cluster_evolution, load_seed("gpt2"), 0, config))
    for rung, gpus in (("paper-14m", 1), ("paper-31m", 4)):
        vj = _created(build_verification_job(cluster_evolution, StartVerification(f"gpt2-{rung}", "gpt2", rung),
                                             seed, config, checked=True, start=0))
        (pytorch,) = build_training(cluster_evolution, vj, replace(config, pytorchjob_available=True))
        for pod in _pods(pytorch):
            assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == gpus
        assert pytorch["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1


def test_a_store_on_a_volume_claim_is_mounted_at_the_same_path_in_every_pod(cluster_evolution, config):
    pvc = replace(config, store="/store", store_claim="genesys-store-rwx", store_secret=None)
    design, session_job, _, vj = _children(cluster_evolution, pvc)
    jobs = [session_job, *build_training(cluster_evolution, vj, pvc),
            *build_training(cluster_evolution, vj, replace(pvc, pytorchjob_available=True))]
    for job in jobs:
        for pod in _pods(job):
            claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
            assert [v["persistentVolumeClaim"]["claimName"] for v in claims] == ["genesys-store-rwx"]
            mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
            assert mounts[claims[0]["name"]] == "/store"
            assert any(arg.startswith("/store/demo/") for arg in pod["containers"][0]["command"])
    _, session_job, _, vj = _children(cluster_evolution, config)  # an object store: no pod mounts a claim
    for job in [session_job, *build_training(cluster_evolution, vj, config)]:
        for pod in _pods(job):
            assert not [v for v in pod.get("volumes", []) if "persistentVolumeClaim" in v]


def _env(job: dict) -> dict[str, str]:
    (pod,) = _pods(job)
    return {e["name"]: e["value"] for e in pod["containers"][0]["env"]}


def test_the_operators_weaviate_url_reaches_design_session_pods_and_no_other(cluster_evolution, config):
    weaviate = replace(config, weaviate_url="http://weaviate.weaviate:8080")
    design, session_job, _, vj = _children(cluster_evolution, weaviate)
    assert _env(session_job)["GENESYS_WEAVIATE_URL"] == "http://weaviate.weaviate:8080"
    for child in build_training(cluster_evolution, vj, weaviate):
        for pod in _pods(child):
            assert "GENESYS_WEAVIATE_URL" not in {e["name"] for e in pod["containers"][0]["env"]}
    _, session_job, _, _ = _children(cluster_evolution, config)  # none set: the session picks its own default
    assert "GENESYS_WEAVIATE_URL" not in _env(session_job)


def test_a_session_job_carries_what_the_other_sessions_spent(cluster_evolution, config):
    job = session_job_manifest(cluster_evolution, SESSION, config, attempt=2, spent_usd=1.25)
    assert (job.spec.spent_usd, job.spec.attempt) == (1.25, 2)
    assert "spentUsd: 1.25" in dump_manifest(job)
