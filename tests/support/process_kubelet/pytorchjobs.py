"""The Kubeflow training operator's PyTorchJob controller (kubeflow.org/v1, training-operator v1.9), pure.

    memory = PyTorchJobMemory()
    plan = reconcile_pytorch_job(job, pods, services, memory, at=now())
    # create plan.services and plan.pods, delete plan.delete_pods / plan.delete_services, patch plan.status

One pod and one headless Service per replica, both named `<job>-<type>-<index>` (`<job>-master-0`),
labelled `training.kubeflow.org/*`, with torchrun's environment (MASTER_ADDR is the master's
Service, PET_NODE_RANK the replica's rank). restartPolicy ExitCode: a pod failed with exit code
128+ (a signal: preemption, eviction, OOM) is deleted and created again, up to
runPolicy.backoffLimit restarts; codes 1-127 fail the job. Not modelled: elasticPolicy, gang
scheduling, activeDeadlineSeconds, and the workers' init container that waits for the master's DNS.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from process_kubelet.objects import (
    Manifest,
    condition_true,
    controller_reference,
    find_condition,
    is_deleting,
    meta,
    name_of,
    phase_of,
    terminated_state,
    uid_of,
)

API_VERSION = "kubeflow.org/v1"
KIND = "PyTorchJob"
OPERATOR_NAME = "pytorchjob-controller"
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
OPERATOR_LABEL = "training.kubeflow.org/operator-name"
TYPE_LABEL = "training.kubeflow.org/replica-type"
INDEX_LABEL = "training.kubeflow.org/replica-index"
ROLE_LABEL = "training.kubeflow.org/job-role"
CONTAINER = "pytorch"  # the container whose exit code decides, and which gets the port
PORT_NAME = "pytorchjob-port"
DEFAULT_PORT = 23456
DEFAULT_NPROC = "auto"
DEFAULT_RESTART_POLICY = "OnFailure"
NO_EXIT_CODE = 0xBEEF  # the operator's stand-in when the container has no terminated state (retryable)
REPLICA_TYPES = ("Master", "Worker")


def replica_specs(job: Mapping[str, Any]) -> dict[str, Manifest]:
    """spec.pytorchReplicaSpecs with the webhook's defaults: canonical type names, replicas 1,
    restartPolicy OnFailure; Master first."""
    given = job["spec"].get("pytorchReplicaSpecs") or {}
    out: dict[str, Manifest] = {}
    for canonical in REPLICA_TYPES:
        for key, spec in given.items():
            if key.lower() == canonical.lower():
                out[canonical] = {**spec, "replicas": int(spec.get("replicas", 1)),
                                  "restartPolicy": spec.get("restartPolicy", DEFAULT_RESTART_POLICY)}
    unknown = [key for key in given if key.lower() not in ("master", "worker")]
    if unknown:
        raise ValueError(f"PyTorchJob {name_of(job)}: replica types {unknown} are not Master or Worker")
    return out


def _default_container(spec: Mapping[str, Any]) -> Manifest:
    containers = spec["template"]["spec"]["containers"]
    return next((c for c in containers if c.get("name") == CONTAINER), containers[0])


def master_port(job: Mapping[str, Any]) -> int:
    """The master container's `pytorchjob-port` (the defaulting webhook adds 23456 when absent)."""
    master = replica_specs(job).get("Master")
    if master is not None:
        for port in _default_container(master).get("ports") or []:
            if port.get("name") == PORT_NAME:
                return int(port["containerPort"])
    return DEFAULT_PORT


def _ports(spec: Mapping[str, Any]) -> list[Manifest]:
    ports = list(_default_container(spec).get("ports") or [])
    if not any(port.get("name") == PORT_NAME for port in ports):
        ports.append({"name": PORT_NAME, "containerPort": DEFAULT_PORT})
    return ports


def replica_name(job: Mapping[str, Any], rtype: str, index: int) -> str:
    return f"{name_of(job)}-{rtype.lower()}-{index}"


def replica_labels(job: Mapping[str, Any], rtype: str, index: int | None = None) -> dict[str, str]:
    labels = {OPERATOR_LABEL: OPERATOR_NAME, JOB_NAME_LABEL: name_of(job), TYPE_LABEL: rtype.lower()}
    if index is not None:
        labels[INDEX_LABEL] = str(index)
    return labels


def torchrun_env(job: Mapping[str, Any], rtype: str, index: int) -> list[Manifest]:
    """What setPodEnv appends to every container: the master's address, ranks and sizes for torchrun."""
    specs = replica_specs(job)
    nproc = str(job["spec"].get("nprocPerNode") or DEFAULT_NPROC)
    nodes = sum(spec["replicas"] for spec in specs.values())
    values: list[tuple[str, str]] = [("PYTHONUNBUFFERED", "1")]
    if "Master" in specs:
        address, port = replica_name(job, "Master", 0), str(master_port(job))
        rank = index + 1 if rtype == "Worker" else index
        world = nodes * (int(nproc) if nproc.isdigit() else 1)
        values += [("MASTER_PORT", port), ("PET_MASTER_PORT", port), ("MASTER_ADDR", address),
                   ("PET_MASTER_ADDR", address), ("WORLD_SIZE", str(world)), ("RANK", str(rank)),
                   ("PET_NODE_RANK", str(rank))]
    values += [("PET_NPROC_PER_NODE", nproc), ("PET_NNODES", str(nodes))]
    return [{"name": key, "value": value} for key, value in values]


def build_pod(job: Mapping[str, Any], rtype: str, index: int) -> Manifest:
    spec = replica_specs(job)[rtype]
    template = copy.deepcopy(spec["template"])
    labels = {**((template.get("metadata") or {}).get("labels") or {}), **replica_labels(job, rtype, index)}
    if rtype == "Master":
        labels[ROLE_LABEL] = "master"
    pod_spec = template["spec"]
    # ExitCode is the operator's own policy: the pod itself never restarts, the operator recreates it
    pod_spec["restartPolicy"] = "Never" if spec["restartPolicy"] == "ExitCode" else spec["restartPolicy"]
    for container in pod_spec["containers"]:
        container["env"] = [*(container.get("env") or []), *torchrun_env(job, rtype, index)]
    _default_container({"template": template})["ports"] = _ports(spec)
    metadata: Manifest = {"name": replica_name(job, rtype, index), "namespace": meta(job).get("namespace"),
                          "labels": labels, "ownerReferences": [controller_reference(job, API_VERSION, KIND)]}
    if (template.get("metadata") or {}).get("annotations"):
        metadata["annotations"] = dict(template["metadata"]["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def build_service(job: Mapping[str, Any], rtype: str, index: int) -> Manifest:
    """The headless Service that gives replica `index` its DNS name (the pod's name)."""
    labels = replica_labels(job, rtype, index)
    ports = [{"name": port["name"], "port": int(port["containerPort"])}
             for port in _ports(replica_specs(job)[rtype]) if port.get("name")]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": replica_name(job, rtype, index), "namespace": meta(job).get("namespace"),
                         "labels": labels, "ownerReferences": [controller_reference(job, API_VERSION, KIND)]},
            "spec": {"clusterIP": "None", "selector": labels, "ports": ports}}


def is_retryable(restart_policy: str, exit_code: int) -> bool:
    """Whether the operator deletes a failed pod to start it again (ExitCode: only signals, 128+)."""
    if restart_policy == "ExitCode":
        return exit_code >= 128
    return restart_policy in ("OnFailure", "Always")


def set_job_condition(status: Manifest, kind: str, state: str, reason: str, message: str, at: str) -> None:
    """The operator's UpdateJobConditions: nothing changes once Failed; Running and Restarting
    replace each other; Succeeded/Failed turn Running False; the newest condition goes last."""
    conditions: list[Manifest] = status.setdefault("conditions", [])
    if condition_true(conditions, "Failed"):
        return
    current = find_condition(conditions, kind)
    if current is not None and current.get("status") == state and current.get("reason") == reason:
        return
    entry = {"type": kind, "status": state, "reason": reason, "message": message, "lastUpdateTime": at,
             "lastTransitionTime": at}
    if current is not None and current.get("status") == state:
        entry["lastTransitionTime"] = current.get("lastTransitionTime", at)
    replaced = {kind, {"Running": "Restarting", "Restarting": "Running"}.get(kind, kind)}
    kept = []
    for condition in conditions:
        if condition.get("type") in replaced:
            continue
        if kind in ("Succeeded", "Failed") and condition.get("type") == "Running":
            condition = {**condition, "status": "False"}
        kept.append(condition)
    status["conditions"] = [*kept, entry]


@dataclass
class PyTorchJobMemory:
    """What the operator keeps between passes: restarts so far and the failed pods already restarted."""

    restarts: int = 0
    handled: set[str] = field(default_factory=set)


@dataclass
class PyTorchJobPlan:
    pods: list[Manifest] = field(default_factory=list)
    services: list[Manifest] = field(default_factory=list)
    delete_pods: list[str] = field(default_factory=list)
    delete_services: list[str] = field(default_factory=list)
    status: Manifest = field(default_factory=dict)


def _reason(suffix: str) -> str:
    return f"{KIND}{suffix}"


def _replica_of(obj: Mapping[str, Any]) -> tuple[str, int] | None:
    labels = meta(obj).get("labels") or {}
    rtype, index = labels.get(TYPE_LABEL), labels.get(INDEX_LABEL)
    if rtype is None or index is None or not str(index).isdigit():
        return None
    return rtype.lower(), int(index)


def _count(counts: Manifest, pod: Mapping[str, Any]) -> None:
    phase = phase_of(pod)
    key = {"Running": "failed" if is_deleting(pod) else "active", "Succeeded": "succeeded",
           "Failed": "failed"}.get(phase)
    if key is not None:
        counts[key] = counts.get(key, 0) + 1


def _finish(job: Mapping[str, Any], pods: list[Mapping[str, Any]], plan: PyTorchJobPlan) -> None:
    """A finished job: cleanPodPolicy says which pods go (None keeps them all); Succeeded turns active into done."""
    policy = (job["spec"].get("runPolicy") or {}).get("cleanPodPolicy", "None")
    for pod in pods:
        if policy == "All" or (policy == "Running" and phase_of(pod) in ("Running", "Pending")):
            plan.delete_pods.append(name_of(pod))
            plan.delete_services.append(name_of(pod))
    if condition_true(plan.status.get("conditions"), "Succeeded"):
        for counts in (plan.status.get("replicaStatuses") or {}).values():
            if counts.get("active"):
                counts["succeeded"] = counts.get("succeeded", 0) + counts.pop("active")


def _suspend(job: Mapping[str, Any], pods: list[Mapping[str, Any]], plan: PyTorchJobPlan, at: str) -> None:
    plan.delete_pods = [name_of(pod) for pod in pods]
    plan.delete_services = list(plan.delete_pods)
    for counts in (plan.status.get("replicaStatuses") or {}).values():
        counts.pop("active", None)
    message = f"{KIND} {name_of(job)} is suspended."
    if condition_true(plan.status.get("conditions"), "Running"):
        set_job_condition(plan.status, "Running", "False", _reason("Suspended"), message, at)
    if not condition_true(plan.status.get("conditions"), "Suspended"):
        set_job_condition(plan.status, "Suspended", "True", _reason("Suspended"), message, at)


def _sync_replica(job: Mapping[str, Any], rtype: str, spec: Mapping[str, Any], pods: list[Mapping[str, Any]],
                  services: set[str], memory: PyTorchJobMemory, plan: PyTorchJobPlan, at: str) -> Manifest:
    """ReconcilePods for one replica type: create the missing, restart or fail on failed ones; its counts."""
    counts: Manifest = {}
    limit = (job["spec"].get("runPolicy") or {}).get("backoffLimit")
    for index in range(spec["replicas"]):
        mine = [pod for pod in pods if _replica_of(pod) == (rtype.lower(), index)]
        if replica_name(job, rtype, index) not in services:
            plan.services.append(build_service(job, rtype, index))
        live = [pod for pod in mine if not is_deleting(pod)]
        if not mine:
            plan.pods.append(build_pod(job, rtype, index))
        for pod in live[:1]:
            _count(counts, pod)
            if phase_of(pod) != "Failed" or uid_of(pod) in memory.handled:
                continue
            terminated = terminated_state(pod, CONTAINER) or terminated_state(pod)
            code = int(terminated["exitCode"]) if terminated is not None else NO_EXIT_CODE
            if is_retryable(spec["restartPolicy"], code):
                if limit is not None and memory.restarts >= int(limit):
                    raise _BackoffExceeded
                memory.handled.add(uid_of(pod))
                memory.restarts += 1
                plan.delete_pods.append(name_of(pod))
                set_job_condition(plan.status, "Restarting", "True", _reason("Restarting"),
                                  f"job {name_of(job)} is restarting because {rtype} replica(s) failed.", at)
            elif spec["restartPolicy"] == "ExitCode":
                plan.status.setdefault("completionTime", at)
                set_job_condition(plan.status, "Failed", "True", _reason("Failed"),
                                  f'job "{name_of(job)}" is failing because "{rtype}" replica(s) failed.', at)
    counts["selector"] = ",".join(f"{k}={v}" for k, v in sorted(replica_labels(job, rtype).items()))
    return counts


class _BackoffExceeded(Exception):
    pass


def _update_status(job: Mapping[str, Any], specs: Mapping[str, Manifest], plan: PyTorchJobPlan, at: str) -> None:
    """UpdateJobStatus: Running and Succeeded from the master (workers when there is none); failures."""
    status, name = plan.status, name_of(job)
    status.setdefault("startTime", at)
    for rtype, spec in specs.items():
        counts = status["replicaStatuses"][rtype]
        active, succeeded, failed = (counts.get(key, 0) for key in ("active", "succeeded", "failed"))
        if rtype == ("Master" if "Master" in specs else "Worker"):
            if spec["replicas"] - succeeded == 0:
                status.setdefault("completionTime", at)
                set_job_condition(status, "Succeeded", "True", _reason("Succeeded"),
                                  f"{KIND} {name} is successfully completed.", at)
                return
            if active > 0:
                set_job_condition(status, "Running", "True", _reason("Running"), f"{KIND} {name} is running.", at)
        if failed > 0 and spec["replicas"] > succeeded + active:
            if spec["restartPolicy"] != "Never":
                set_job_condition(status, "Restarting", "True", _reason("Restarting"),
                                  f"{KIND} {name} is restarting because {failed} {rtype} replica(s) failed.", at)
            else:
                status.setdefault("completionTime", at)
                set_job_condition(status, "Failed", "True", _reason("Failed"),
                                  f"{KIND} {name} is failed because {failed} {rtype} replica(s) failed.", at)


def reconcile_pytorch_job(job: Mapping[str, Any], pods: Iterable[Mapping[str, Any]], services: Iterable[str],
                          memory: PyTorchJobMemory, *, at: str) -> PyTorchJobPlan:
    """One pass of the operator over `job`, the pods it controls and the names of its Services (`memory` is updated)."""
    plan = PyTorchJobPlan(status=copy.deepcopy(dict(job.get("status") or {})))
    status, name, owned = plan.status, name_of(job), list(pods)
    if find_condition(status.get("conditions"), "Created") is None:
        set_job_condition(status, "Created", "True", _reason("Created"), f"{KIND} {name} is created.", at)
    conditions = status.get("conditions")
    if condition_true(conditions, "Succeeded") or condition_true(conditions, "Failed"):
        _finish(job, owned, plan)
        return plan
    if (job["spec"].get("runPolicy") or {}).get("suspend"):
        _suspend(job, owned, plan, at)
        return plan
    if condition_true(conditions, "Suspended"):
        set_job_condition(status, "Suspended", "False", _reason("Resumed"), f"{KIND} {name} is resumed.", at)
        status["startTime"] = at
    specs = replica_specs(job)
    try:
        status["replicaStatuses"] = {rtype: _sync_replica(job, rtype, spec, owned, set(services), memory, plan, at)
                                     for rtype, spec in specs.items()}
    except _BackoffExceeded:
        plan.pods, plan.services = [], []
        plan.delete_pods = [name_of(pod) for pod in owned]
        plan.delete_services = list(plan.delete_pods)
        status.setdefault("completionTime", at)
        set_job_condition(status, "Failed", "True", _reason("Failed"),
                          f"Job {name} has failed because it has reached the specified backoff limit", at)
        return plan
    _update_status(job, specs, plan, at)
    return plan
