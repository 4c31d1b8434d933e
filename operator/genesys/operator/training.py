"""A VerificationJob's training child: a Kubeflow PyTorchJob, or an Indexed Job and a headless Service.

    children = build_training(evolution, verification_job, config)   # [PyTorchJob] or [Job, Service]

Either way the pods run `torchrun -m genesys.trainer.verification --job <job.yaml> --out <dir>`
with `spec.resources.nodes` pods of `parallelism.nprocPerVerification` processes each, sized
by the rung's resources (or spec.resources.verification). The PyTorchJob's operator sets
torchrun's PET_* variables itself; the Indexed Job gets them here, rank 0 found through the
Service's DNS (`<job>-0.<service>`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from genesys.api.evolution import Evolution, PodResources
from genesys.api.verification import VerificationJobSpec
from genesys.operator.builders import (
    COMPONENT_LABEL,
    OperatorConfig,
    child_metadata,
    layout_of,
    queued,
    store_claim,
)
from genesys.operator.names import labels_for, logical_name
from genesys.operator.pods import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    Manifest,
    container,
    env_list,
    failure_policy,
    pod_spec,
    secret_env,
)
from genesys.operator.state import DESIGN_LABEL, REPEAT_LABEL, RUNG_LABEL, repeat_of

# Room for what controllers append: an Indexed Job's pod hostname `<job>-<index>` and a
# PyTorchJob's per-replica Services `<job>-worker-<i>` must stay within 63 characters.
TRAINING_NAME_LIMIT = 52
RENDEZVOUS_PORT = 29500
CONTAINER = "pytorch"  # the training operator finds the training container by this name
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def training_resources(evolution: Evolution, rung: str) -> PodResources:
    """Each training pod's resources: the rung's own (a larger rung needs more), else the run's default."""
    own = evolution.spec.ladder.rung(rung).resources
    return own if own is not None else evolution.spec.resources.verification


def training_command(evolution: Evolution, verification_job: Mapping[str, Any], config: OperatorConfig) -> list[str]:
    layout = layout_of(evolution, config)
    logical = logical_name(verification_job)
    return ["python", "-m", "torch.distributed.run", "-m", "genesys.trainer.verification",
            "--job", layout.job_file(logical), "--out", layout.verification_dir(logical)]


def _parts(evolution: Evolution, verification_job: Mapping[str, Any], config: OperatorConfig
           ) -> tuple[Manifest, dict[str, str], PodResources]:
    """The child's metadata, its pods' labels and their resources."""
    logical = logical_name(verification_job)
    spec = VerificationJobSpec.model_validate(verification_job["spec"])
    design = (verification_job["metadata"].get("annotations") or {})[DESIGN_LABEL]
    extra = {DESIGN_LABEL: design, RUNG_LABEL: spec.rung, REPEAT_LABEL: str(repeat_of(verification_job)),
             COMPONENT_LABEL: "training"}
    meta = child_metadata(evolution, logical, verification_job, config, labels=extra, limit=TRAINING_NAME_LIMIT)
    return meta, {**labels_for(evolution.name, logical, extra)}, training_resources(evolution, spec.rung)


def build_pytorch_job(evolution: Evolution, verification_job: Mapping[str, Any], config: OperatorConfig) -> Manifest:
    """A kubeflow.org/v1 PyTorchJob: one Master and nodes - 1 Workers.

    A PyTorchJob has no podFailurePolicy; restartPolicy ExitCode restarts pods killed by a
    signal (exit 128+, e.g. an eviction) up to backoffLimit and ends the job on codes 1-127.
    So exit 3 (interrupted, checkpoint saved) ends it too, and the operator settles the
    interrupted result as the core says (`settle_verification`: start again under the same
    name, attempts + 1) by creating a new PyTorchJob.
    """
    meta, pod_labels, resources = _parts(evolution, verification_job, config)
    nodes = evolution.spec.resources.nodes
    trainer = container(CONTAINER, config.trainer_image, training_command(evolution, verification_job, config),
                        resources=resources, env_from=secret_env([config.store_secret]), shared_memory=True,
                        store_claim=store_claim(config))
    template = {"metadata": {"labels": pod_labels},
                "spec": pod_spec([trainer], restart_policy="Never", shared_memory=True,
                                 store_claim=store_claim(config))}
    replicas: Manifest = {"Master": {"replicas": 1, "restartPolicy": "ExitCode", "template": template}}
    if nodes > 1:
        # a copy: one shared dict would alias the two replicas (and print as a YAML anchor)
        replicas["Worker"] = {"replicas": nodes - 1, "restartPolicy": "ExitCode", "template": copy.deepcopy(template)}
    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": meta,
        "spec": {
            "nprocPerNode": str(evolution.spec.parallelism.nproc_per_verification),
            "runPolicy": {"backoffLimit": config.max_attempts - 1, "cleanPodPolicy": "None"},
            "pytorchReplicaSpecs": replicas,
        },
    }
    return queued(job, evolution, ("spec", "runPolicy"))


def build_rendezvous_service(evolution: Evolution, verification_job: Mapping[str, Any],
                             config: OperatorConfig) -> Manifest:
    """The headless Service that gives each pod of the Indexed Job a DNS name (`<job>-<index>.<service>`)."""
    meta, _, _ = _parts(evolution, verification_job, config)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "clusterIP": "None",
            # ranks look each other up before they are ready: rendezvous is how they get ready
            "publishNotReadyAddresses": True,
            "selector": {"batch.kubernetes.io/job-name": meta["name"]},
            "ports": [{"name": "rendezvous", "port": RENDEZVOUS_PORT, "targetPort": RENDEZVOUS_PORT}],
        },
    }


def rendezvous_env(name: str, namespace: str, nodes: int, nproc: int) -> list[Manifest]:
    """torchrun's PET_* arguments for pod `JOB_COMPLETION_INDEX` of Indexed Job `name` (its Service has that name)."""
    master = f"{name}-0.{name}.{namespace}.svc"
    plain = env_list({"PET_NNODES": str(nodes), "PET_NPROC_PER_NODE": str(nproc), "PET_MASTER_ADDR": master,
                      "PET_MASTER_PORT": str(RENDEZVOUS_PORT), "MASTER_ADDR": master,
                      "MASTER_PORT": str(RENDEZVOUS_PORT)})
    return [*plain, {"name": "PET_NODE_RANK", "valueFrom": {"fieldRef": {"fieldPath": COMPLETION_INDEX}}}]


def build_indexed_job(evolution: Evolution, verification_job: Mapping[str, Any], config: OperatorConfig) -> Manifest:
    """An Indexed batch/v1 Job of `nodes` pods, one torchrun node each, for clusters without PyTorchJob.

    Exit 1 ends the Job at once only for a single pod: with several, a rank that loses its
    peer also exits 1, and that is a preemption to retry, not a verdict.
    """
    meta, pod_labels, resources = _parts(evolution, verification_job, config)
    nodes = evolution.spec.resources.nodes
    env = rendezvous_env(meta["name"], config.namespace, nodes, evolution.spec.parallelism.nproc_per_verification)
    trainer = container(CONTAINER, config.trainer_image, training_command(evolution, verification_job, config),
                        resources=resources, env=env, env_from=secret_env([config.store_secret]),
                        shared_memory=True, store_claim=store_claim(config))
    final = (EXIT_FAILED, EXIT_BAD_INPUT) if nodes == 1 else (EXIT_BAD_INPUT,)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "completionMode": "Indexed",
            "completions": nodes,
            "parallelism": nodes,
            "backoffLimit": config.max_attempts - 1,
            "podFailurePolicy": failure_policy(CONTAINER, final_codes=final),
            "template": {"metadata": {"labels": pod_labels},
                         "spec": pod_spec([trainer], restart_policy="Never", shared_memory=True,
                                          subdomain=meta["name"], store_claim=store_claim(config))},
        },
    }
    return queued(job, evolution, ("spec",))


def build_training(evolution: Evolution, verification_job: Mapping[str, Any], config: OperatorConfig
                   ) -> list[Manifest]:
    """The children of a VerificationJob, in creation order."""
    if config.pytorchjob_available:
        return [build_pytorch_job(evolution, verification_job, config)]
    return [build_rendezvous_service(evolution, verification_job, config),
            build_indexed_job(evolution, verification_job, config)]
