"""The pods genesys runs, hardened alike: no Kubernetes credentials, non-root, a read-only root.

    spec = pod_spec([container("session", image, argv, env, resources)], restart_policy="Never")
    job_spec["podFailurePolicy"] = failure_policy("session", final_codes=(1, 2))

Writable places are emptyDirs: /tmp (also HOME), the caches (tokenizers, corpora, the
hub) and the work dir where checkpoints live until they reach the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from genesys.api.evolution import PodResources

Manifest = dict[str, Any]


@dataclass(frozen=True)
class StoreClaim:
    """An artifact store on a PersistentVolumeClaim (ReadWriteMany): mounted at the same path everywhere."""

    claim: str
    mount_path: str

# Exit codes of the entry points (genesys.agents.session, genesys.trainer.verification).
EXIT_FAILED = 1  # the process judged its input and wrote its final outcome (or crashed doing so)
EXIT_BAD_INPUT = 2  # the job file or its arguments are unusable: running it again changes nothing
EXIT_INTERRUPTED = 3  # stopped before the end (SIGTERM, preemption) after saving a checkpoint

RUN_AS = 10001  # the images' non-root user
CACHE_DIR = "/var/cache/genesys"
WORK_DIR = "/var/lib/genesys/work"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
STORE_VOLUME = "store"
GPU_RESOURCE = "nvidia.com/gpu"

# With a read-only root everything that writes needs a place; HOME catches the rest (~/.cache, ~/.config).
BASE_ENV: Mapping[str, str] = {
    "HOME": "/tmp",
    "PYTHONUNBUFFERED": "1",
    "GENESYS_CACHE": CACHE_DIR,
    "HF_HOME": f"{CACHE_DIR}/huggingface",
    "XDG_CACHE_HOME": CACHE_DIR,
    "GENESYS_WORK_DIR": WORK_DIR,
}
BASE_MOUNTS: Mapping[str, str] = {"tmp": "/tmp", "cache": CACHE_DIR, "work": WORK_DIR}


def env_list(values: Mapping[str, str]) -> list[Manifest]:
    return [{"name": key, "value": value} for key, value in values.items()]


def secret_env(secrets: Iterable[str | None]) -> list[Manifest]:
    """envFrom entries for the named Secrets (each key becomes a variable); None entries are skipped."""
    return [{"secretRef": {"name": name}} for name in secrets if name]


def resources_of(resources: PodResources) -> Manifest:
    """Requests equal to limits: a verification's speed (and so its device-seconds) should not vary."""
    amounts: dict[str, Any] = {}
    if resources.cpu is not None:
        amounts["cpu"] = resources.cpu
    if resources.memory is not None:
        amounts["memory"] = resources.memory
    if resources.gpus:
        amounts[GPU_RESOURCE] = resources.gpus
    return {"requests": dict(amounts), "limits": dict(amounts)} if amounts else {}


def container(name: str, image: str, command: Sequence[str], *, resources: PodResources,
              env: Sequence[Manifest] = (), env_from: Sequence[Manifest] = (), shared_memory: bool = False,
              store_claim: StoreClaim | None = None) -> Manifest:
    """One container running `command`, with the writable mounts every genesys process needs."""
    mounts = [{"name": volume, "mountPath": path} for volume, path in BASE_MOUNTS.items()]
    if store_claim is not None:
        mounts.append({"name": STORE_VOLUME, "mountPath": store_claim.mount_path})
    if shared_memory:
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    out: Manifest = {
        "name": name,
        "image": image,
        "command": list(command),
        "env": env_list(BASE_ENV) + list(env),
        "volumeMounts": mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if env_from:
        out["envFrom"] = list(env_from)
    if resources_of(resources):
        out["resources"] = resources_of(resources)
    return out


def pod_spec(containers: Sequence[Manifest], *, restart_policy: str, shared_memory: bool = False,
             subdomain: str | None = None, store_claim: StoreClaim | None = None) -> Manifest:
    """A pod that cannot reach the Kubernetes API: it reads and writes the artifact store only."""
    volumes: list[Manifest] = [{"name": volume, "emptyDir": {}} for volume in BASE_MOUNTS]
    if store_claim is not None:  # the store is a ReadWriteMany volume every pod mounts at the same path
        volumes.append({"name": STORE_VOLUME, "persistentVolumeClaim": {"claimName": store_claim.claim}})
    if shared_memory:  # NCCL and data loader workers exchange tensors through /dev/shm (64Mi by default)
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory"}})
    spec: Manifest = {
        "restartPolicy": restart_policy,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": list(containers),
        "volumes": volumes,
    }
    if subdomain is not None:
        spec["subdomain"] = subdomain
    return spec


def failure_policy(container_name: str, final_codes: Sequence[int]) -> Manifest:
    """How the Job controller reads a failed pod (rules apply in order, the first match wins).

    A disruption (eviction, preemption, node drain) is the cluster's doing: Ignore, a new
    pod starts and nothing is counted. `final_codes` are verdicts that a rerun would repeat:
    FailJob at once. EXIT_INTERRUPTED is Count: the pod is started again, resuming from its
    checkpoint, and backoffLimit (the core's max attempts - 1) bounds how often a run that
    keeps being stopped is retried before it fails. Anything else (OOM kills, crashes of the
    runtime) is counted the same way by default.
    """
    rules: list[Manifest] = [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    ]
    if final_codes:
        rules.append({"action": "FailJob", "onExitCodes": {
            "containerName": container_name, "operator": "In", "values": sorted(final_codes)}})
    rules.append({"action": "Count", "onExitCodes": {
        "containerName": container_name, "operator": "In", "values": [EXIT_INTERRUPTED]}})
    return {"rules": rules}


def queue_labels(queue: str | None) -> dict[str, str]:
    """Kueue's label: the child waits suspended until its LocalQueue admits it."""
    return {QUEUE_LABEL: queue} if queue else {}
