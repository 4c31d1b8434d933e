"""The custom resources and session Jobs an Evolution's actions become: pure dict builders.

    design = build_design(evolution, action, config, start=7)        # StartDesignSession -> Design
    job = build_session_job(evolution, design, config)                # its batch/v1 Job
    vj = build_verification_job(evolution, action, design, config, checked=True, start=8)

Each returns the object to create; a `status` in it is what the handler patches right after
(the API server ignores status on create, and `genesys.operator.state` reads its absence as
"just started"). Names are deterministic (`names.k8s_name`), so creating twice is a 409.
Owners: Evolution -> Designs, ScaleBudgets; Design -> session Job, VerificationJobs;
VerificationJob -> its training child and Service (`genesys.operator.training`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genesys.api.artifacts import ArtifactLayout
from genesys.api.budget import RunCounts, ScaleBudgetSpec, ScaleBudgetStatus
from genesys.api.common import API_VERSION, ObjectMeta
from genesys.api.design import Design
from genesys.api.evolution import Evolution
from genesys.api.rungs import ladder_overrides
from genesys.api.session import DesignSessionJob, DesignSessionJobSpec
from genesys.api.verification import VerificationJob, VerificationJobSpec
from genesys.evolution.ladder import Usage, rung_budgets
from genesys.evolution.launch import verification_job_spec
from genesys.evolution.outcomes import DEFAULT_MAX_ATTEMPTS
from genesys.evolution.state import StartDesignSession, StartVerification
from genesys.operator.names import (
    EVOLUTION_LABEL,
    NAME_LIMIT,
    annotations_for,
    k8s_name,
    labels_for,
    logical_name,
)
from genesys.operator.pods import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    Manifest,
    StoreClaim,
    container,
    env_list,
    failure_policy,
    pod_spec,
    queue_labels,
    secret_env,
)
from genesys.operator.state import DESIGN_LABEL, REPEAT_LABEL, RUNG_LABEL, START_ANNOTATION

COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY = {"app.kubernetes.io/managed-by": "genesys"}
# The session's seed, on the Design from its creation (its status may be lost if the operator stops
# between creating the Design and patching its status: the session still gets the same seed).
SEED_ANNOTATION = "genesys.dev/session-seed"
# Which start of its session or verification a child runs: a child of an earlier attempt is an old one.
ATTEMPT_ANNOTATION = "genesys.dev/attempt"
WEAVIATE_ENV = "GENESYS_WEAVIATE_URL"  # where genesys.knowledge finds Weaviate when the spec names none


@dataclass(frozen=True)
class OperatorConfig:
    """What the operator's deployment decides (Helm values), not the Evolution."""

    namespace: str
    store: str  # artifact store root (path on a shared volume or fsspec URL); spec.artifacts.url wins
    agent_image: str  # runs python -m genesys.agents.session
    trainer_image: str  # runs torchrun -m genesys.trainer.verification
    pytorchjob_available: bool = False  # the Kubeflow training operator's CRD is installed
    store_secret: str | None = None  # the store's credentials (AWS_*, FSSPEC_*): every pod gets them
    store_claim: str | None = None  # the store is this ReadWriteMany PVC, mounted at `store` in every pod
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # starts of a child before a lost one counts as failed
    weaviate_url: str | None = None  # the knowledge engine's Weaviate: design-session pods get GENESYS_WEAVIATE_URL


def store_claim(config: OperatorConfig) -> StoreClaim | None:
    return StoreClaim(config.store_claim, config.store) if config.store_claim else None


def layout_of(evolution: Evolution, config: OperatorConfig) -> ArtifactLayout:
    return ArtifactLayout(root=evolution.spec.artifacts.url or config.store, evolution=evolution.name)


def as_object(evolution: Evolution) -> Manifest:
    """The Evolution as the API server returns it (its uid included), for owner references."""
    return evolution.model_dump(mode="json", by_alias=True, exclude_none=True)


def owner_reference(owner: Mapping[str, Any]) -> Manifest:
    """A controller reference: deleting the owner deletes the child, even while the operator is down."""
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def child_metadata(evolution: Evolution, logical: str, owner: Mapping[str, Any], config: OperatorConfig, *,
                   labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None,
                   limit: int = NAME_LIMIT) -> Manifest:
    """Name, labels (for selection) and annotations (full values) of `evolution`'s child `logical`."""
    return {
        "name": k8s_name(evolution.name, logical, limit),
        "namespace": config.namespace,
        "labels": {**labels_for(evolution.name, logical, labels), **MANAGED_BY},
        "annotations": annotations_for(evolution.name, logical, annotations),
        "ownerReferences": [owner_reference(owner)],
    }


def build_seed_design(evolution: Evolution, seed: Design, order: int, config: OperatorConfig) -> Manifest:
    """A seed of the Evolution as its Design; `order` is its place in spec.seeds."""
    spec = seed.spec.model_copy(update={"evolution": evolution.name})
    return {
        "apiVersion": API_VERSION,
        "kind": "Design",
        "metadata": child_metadata(evolution, seed.name, as_object(evolution), config),
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        "status": {"phase": "Implemented", "order": order},
    }


def build_design(evolution: Evolution, action: StartDesignSession, config: OperatorConfig, start: int) -> Manifest:
    """The Design a session fills in: no tree until its outcome is recorded.

    `start`: the action's place in the run's start order (sessions and verifications
    started before it), so the state lists sessions as the local runtime does.
    """
    return {
        "apiVersion": API_VERSION,
        "kind": "Design",
        "metadata": child_metadata(evolution, action.name, as_object(evolution), config,
                                   annotations={START_ANNOTATION: str(start), SEED_ANNOTATION: str(action.seed)}),
        "spec": {"evolution": evolution.name, "parents": list(action.parents), "operation": action.operation},
        "status": {"phase": "Designing", "sessionSeed": action.seed},
    }


def session_job_manifest(evolution: Evolution, action: StartDesignSession, config: OperatorConfig,
                         attempt: int = 1, spent_usd: float = 0.0) -> DesignSessionJob:
    """job.yaml of the session (written to the store before its Job exists): same seed, same candidates.
    `spent_usd`: what the evolution's other sessions have spent on LLM calls (llm.evolutionCostCapUSD)."""
    layout = layout_of(evolution, config)
    spec = DesignSessionJobSpec(evolution=evolution.name, operation=action.operation, parents=list(action.parents),
                                seed=action.seed, store=layout.root, designer=evolution.spec.designer, attempt=attempt,
                                spent_usd=spent_usd)
    return DesignSessionJob(metadata=ObjectMeta(name=action.name, labels={EVOLUTION_LABEL: evolution.name}),
                            spec=spec)


def queued(job: Manifest, evolution: Evolution, suspend_path: tuple[str, ...]) -> Manifest:
    """With spec.resources.queue: Kueue's label, and suspended until Kueue admits it."""
    queue = evolution.spec.resources.queue
    if queue:
        job["metadata"]["labels"].update(queue_labels(queue))
        target = job
        for key in suspend_path:
            target = target.setdefault(key, {})
        target["suspend"] = True
    return job


def build_session_job(evolution: Evolution, design: Mapping[str, Any], config: OperatorConfig) -> Manifest:
    """The batch/v1 Job running `design`'s session from its job.yaml in the store.

    The LLM key Secret (spec.designer.llm.secret) reaches this pod and no other, and so does the
    operator's Weaviate URL (the chart's weaviate.url), for the LLM designer's knowledge engine.
    """
    logical = logical_name(design)
    layout = layout_of(evolution, config)
    argv = ["python", "-m", "genesys.agents.session", "--job", layout.session_job_file(logical),
            "--out", layout.design_dir(logical)]
    llm = evolution.spec.designer.llm
    env_from = secret_env([config.store_secret, llm.secret if llm is not None else None])
    labels = {COMPONENT_LABEL: "design-session"}
    claim = store_claim(config)
    env = env_list({WEAVIATE_ENV: config.weaviate_url}) if config.weaviate_url else []
    session = container("session", config.agent_image, argv, resources=evolution.spec.resources.session,
                        env=env, env_from=env_from, store_claim=claim)
    template = {"metadata": {"labels": {**labels_for(evolution.name, logical), **labels}},
                "spec": pod_spec([session], restart_policy="Never", store_claim=claim)}
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": child_metadata(evolution, logical, design, config, labels=labels),
        "spec": {
            "backoffLimit": config.max_attempts - 1,
            "podFailurePolicy": failure_policy("session", final_codes=(EXIT_FAILED, EXIT_BAD_INPUT)),
            "template": template,
        },
    }
    return queued(job, evolution, ("spec",))


def build_verification_job(evolution: Evolution, action: StartVerification, design: Mapping[str, Any],
                           config: OperatorConfig, *, checked: bool, start: int) -> Manifest:
    """The VerificationJob of `action`, owned by its Design; the spec is the core's (`verification_job_spec`).

    The repeat is a label (calibration runs: `kubectl get vj -l genesys.dev/repeat!=0`), the
    logical design name an annotation; spec.design is where the trainer reads the design.
    """
    layout = layout_of(evolution, config)
    spec = verification_job_spec(evolution, action, layout.design_file(action.design), checked=checked, attempt=1)
    labels = {DESIGN_LABEL: action.design, RUNG_LABEL: action.rung, REPEAT_LABEL: str(action.repeat)}
    return {
        "apiVersion": API_VERSION,
        "kind": "VerificationJob",
        "metadata": child_metadata(evolution, action.name, design, config, labels=labels,
                                   annotations={DESIGN_LABEL: action.design, START_ANNOTATION: str(start)}),
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        "status": {"phase": "Pending"},
    }


def verification_job_manifest(verification_job: Mapping[str, Any], attempt: int) -> VerificationJob:
    """job.yaml of a VerificationJob for the trainer: its logical name, its spec, this attempt."""
    spec = VerificationJobSpec.model_validate(verification_job["spec"]).model_copy(update={"attempt": attempt})
    meta = ObjectMeta(name=logical_name(verification_job), labels={EVOLUTION_LABEL: spec.evolution or ""})
    return VerificationJob(metadata=meta, spec=spec)


def build_scale_budgets(evolution: Evolution, config: OperatorConfig) -> list[Manifest]:
    """One ScaleBudget per rung in use, lowest first; their status is a view (`scale_budget_status`)."""
    budgets = []
    for plan in rung_budgets(evolution.spec.ladder):
        spec = ScaleBudgetSpec(evolution=evolution.name, rung=plan.name,
                               overrides=ladder_overrides(evolution.spec.ladder, plan.name), runs=plan.runs,
                               device_hours=plan.device_hours)
        budgets.append({
            "apiVersion": API_VERSION,
            "kind": "ScaleBudget",
            "metadata": child_metadata(evolution, plan.name, as_object(evolution), config,
                                       labels={RUNG_LABEL: plan.name}),
            "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        })
    return budgets


def scale_budget_status(usage: Usage) -> Manifest:
    """A rung's ScaleBudget status from `budget_usage` (derived from VerificationJobs, never counted)."""
    status = ScaleBudgetStatus(runs=RunCounts(total=usage.runs, released=usage.released, used=usage.used,
                                              running=usage.running),
                               device_hours=usage.device_seconds / 3600)
    return status.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"conditions"})
