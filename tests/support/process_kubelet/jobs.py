"""The batch/v1 Job controller, pure: a Job and its pods in; pods to create and delete and the Job's status out.

    memory = JobMemory()
    plan = reconcile_job(job, memory.observe(pods), released=memory.released, at=now())
    # create plan.create, delete plan.delete, merge-patch plan.status; memory.release(plan.release)

Follows kube-controller-manager's job controller (pkg/controller/job, v1.31+): completions,
parallelism, Indexed completion, backoffLimit, podFailurePolicy (rules in order, first match
wins), suspend, and the interim FailureTarget / SuccessCriteriaMet conditions that precede
Failed / Complete until no pod of the Job is still terminating. Not modelled: pod-recreation
backoff delays, activeDeadlineSeconds, backoffLimitPerIndex, successPolicy, finalizers (a pod
deleted while running is remembered by `JobMemory` and counted failed, as finalizers ensure).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from process_kubelet.objects import (
    Manifest,
    condition_true,
    controller_reference,
    find_condition,
    is_deleting,
    is_terminal,
    meta,
    name_of,
    phase_of,
    random_suffix,
    set_condition,
    uid_of,
)

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"  # label and annotation
LEGACY_LABELS = {JOB_NAME_LABEL: "job-name", CONTROLLER_UID_LABEL: "controller-uid"}
DEFAULT_BACKOFF_LIMIT = 6

REASON_POLICY = "PodFailurePolicy"
REASON_BACKOFF = "BackoffLimitExceeded"
BACKOFF_MESSAGE = "Job has reached the specified backoff limit"
REASON_COMPLETIONS = "CompletionsReached"
COMPLETIONS_MESSAGE = "Reached expected number of succeeded pods"


@dataclass(frozen=True)
class JobShape:
    """What the API server's defaulting makes of spec.completions/parallelism/backoffLimit."""

    completions: int | None  # None: a work queue, done when any pod succeeds and none is active
    parallelism: int
    indexed: bool
    backoff_limit: int


def shape_of(spec: Mapping[str, Any]) -> JobShape:
    completions, parallelism = spec.get("completions"), spec.get("parallelism")
    if completions is None and parallelism is None:
        completions = 1
    indexed = spec.get("completionMode") == "Indexed"
    if indexed and completions is None:
        raise ValueError("an Indexed Job needs spec.completions (the API server rejects it without)")
    return JobShape(completions=completions, parallelism=1 if parallelism is None else int(parallelism),
                    indexed=indexed, backoff_limit=int(spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT)))


def _exit_code_matches(code: int, requirement: Mapping[str, Any]) -> bool:
    values = requirement.get("values") or []
    if requirement.get("operator") == "In":
        return code in values
    if requirement.get("operator") == "NotIn":
        return code not in values
    return False  # an unknown operator never matches, like the controller


def _matching_container(pod: Mapping[str, Any], requirement: Mapping[str, Any]) -> tuple[str, int] | None:
    """(name, exit code) of the first terminated non-zero container that the onExitCodes rule matches."""
    status = pod.get("status") or {}
    wanted = requirement.get("containerName")
    for container in [*(status.get("containerStatuses") or []), *(status.get("initContainerStatuses") or [])]:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated is None or (wanted is not None and container.get("name") != wanted):
            continue
        code = int(terminated.get("exitCode", 0))
        if code != 0 and _exit_code_matches(code, requirement):
            return container["name"], code
    return None


def _matching_condition(pod: Mapping[str, Any], patterns: Iterable[Mapping[str, Any]]) -> str | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        for pattern in patterns:
            if condition.get("type") == pattern.get("type") and condition.get("status") == pattern.get("status"):
                return condition["type"]
    return None


def failure_action(policy: Mapping[str, Any] | None, pod: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The action of the first podFailurePolicy rule that failed `pod` matches, and for FailJob its message.

    (None, None) when no rule matches: the failure is counted against backoffLimit.
    """
    where = f"{meta(pod).get('namespace', '')}/{name_of(pod)}"
    for index, rule in enumerate((policy or {}).get("rules") or []):
        action = rule.get("action")
        if rule.get("onExitCodes") is not None:
            matched = _matching_container(pod, rule["onExitCodes"])
            if matched is None:
                continue
            container, code = matched
            message = f"Container {container} for pod {where} failed with exit code {code} matching {action} " \
                      f"rule at index {index}"
        elif rule.get("onPodConditions") is not None:
            kind = _matching_condition(pod, rule["onPodConditions"])
            if kind is None:
                continue
            message = f"Pod {where} has condition {kind} matching {action} rule at index {index}"
        else:
            continue
        if action in ("Ignore", "Count", "FailJob"):
            return action, message if action == "FailJob" else None
    return None, None


def completion_index(pod: Mapping[str, Any]) -> int | None:
    value = (meta(pod).get("annotations") or {}).get(COMPLETION_INDEX)
    return int(value) if value is not None and str(value).isdigit() else None


def format_indexes(indexes: Iterable[int]) -> str:
    """status.completedIndexes: sorted, runs compressed ("0-2,5")."""
    runs: list[list[int]] = []
    for index in sorted(set(indexes)):
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def build_pod(job: Mapping[str, Any], index: int | None, suffix: str) -> Manifest:
    """A pod from the Job's template, named, labelled and owned as the job controller does it."""
    template = job["spec"]["template"]
    job_name = name_of(job)
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    identity = {JOB_NAME_LABEL: job_name, CONTROLLER_UID_LABEL: uid_of(job)}
    for key, value in identity.items():
        labels.setdefault(key, value)
        labels.setdefault(LEGACY_LABELS[key], value)
    annotations = dict((template.get("metadata") or {}).get("annotations") or {})
    spec = copy.deepcopy(template["spec"])
    if index is None:
        name = f"{job_name}-{suffix}"
    else:
        name = f"{job_name}-{index}-{suffix}"
        labels[COMPLETION_INDEX] = annotations[COMPLETION_INDEX] = str(index)
        spec["hostname"] = f"{job_name}-{index}"
        index_env = {"name": "JOB_COMPLETION_INDEX",
                     "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}
        for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
            container["env"] = [index_env, *(container.get("env") or [])]
    metadata: Manifest = {"name": name, "namespace": meta(job).get("namespace"), "labels": labels,
                          "ownerReferences": [controller_reference(job, "batch/v1", "Job")]}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


@dataclass
class JobPlan:
    create: list[Manifest] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)  # pod names; still counted if they fail (the Job failed)
    release: list[str] = field(default_factory=list)  # pod names deleted uncounted (suspend, surplus)
    status: Manifest = field(default_factory=dict)


@dataclass
class _Pods:
    succeeded: list[Manifest]
    failed: list[Manifest]  # counted failures and ignored ones alike
    active: list[Manifest]
    terminating: list[Manifest]


def _partition(pods: Iterable[Mapping[str, Any]], released: set[str]) -> _Pods:
    out = _Pods([], [], [], [])
    for pod in pods:
        if is_terminal(pod):
            if uid_of(pod) not in released:
                (out.succeeded if phase_of(pod) == "Succeeded" else out.failed).append(dict(pod))
        elif is_deleting(pod):
            out.terminating.append(dict(pod))
        else:
            out.active.append(dict(pod))
    return out


def _is_ready(pod: Mapping[str, Any]) -> bool:
    return condition_true((pod.get("status") or {}).get("conditions"), "Ready")


def _failure(job: Mapping[str, Any], pods: _Pods, shape: JobShape) -> tuple[str, str] | None:
    """(reason, message) when the Job has failed: an earlier FailureTarget, a FailJob match, or backoffLimit."""
    conditions = (job.get("status") or {}).get("conditions")
    target = find_condition(conditions, "FailureTarget")
    if target is not None and target.get("status") == "True":
        return target.get("reason", ""), target.get("message", "")
    policy = job["spec"].get("podFailurePolicy")
    counted = 0
    for pod in pods.failed:
        action, message = failure_action(policy, pod)
        if action == "FailJob" and message is not None:
            return REASON_POLICY, message
        counted += action != "Ignore"
    if counted > shape.backoff_limit:
        return REASON_BACKOFF, BACKOFF_MESSAGE
    return None


def _counted_failures(job: Mapping[str, Any], pods: _Pods) -> int:
    policy = job["spec"].get("podFailurePolicy")
    return sum(failure_action(policy, pod)[0] != "Ignore" for pod in pods.failed)


def _succeeded_indexes(pods: _Pods, shape: JobShape) -> set[int]:
    indexes = {completion_index(pod) for pod in pods.succeeded}
    return {i for i in indexes if i is not None and shape.completions is not None and i < shape.completions}


def _new_pods(job: Mapping[str, Any], pods: _Pods, shape: JobShape, done: set[int],
              suffix: Callable[[], str]) -> list[Manifest]:
    """Pods to start: up to parallelism running, one per missing index (Indexed) or completion."""
    # with a podFailurePolicy a pod is replaced only once it has failed, not while it terminates
    occupying = pods.active + (pods.terminating if job["spec"].get("podFailurePolicy") else [])
    slots = shape.parallelism - len(occupying)
    if slots <= 0:
        return []
    if shape.indexed:
        assert shape.completions is not None
        taken = done | {completion_index(pod) for pod in occupying}
        free = [i for i in range(shape.completions) if i not in taken]
        return [build_pod(job, index, suffix()) for index in free[:slots]]
    if shape.completions is None:
        wanted = 0 if pods.succeeded else slots
    else:
        wanted = min(slots, shape.completions - len(pods.succeeded) - len(occupying))
    return [build_pod(job, None, suffix()) for _ in range(max(wanted, 0))]


def _is_done(pods: _Pods, shape: JobShape, done: set[int]) -> bool:
    if pods.active:
        return False
    if shape.indexed:
        return len(done) >= (shape.completions or 0)
    if shape.completions is None:
        return bool(pods.succeeded)
    return len(pods.succeeded) >= shape.completions


def _counters(status: Manifest, pods: _Pods, shape: JobShape, done: set[int], failed: int) -> None:
    """active/ready/terminating/succeeded/failed/completedIndexes; zero counters are omitted, as the API does."""
    succeeded = len(done) if shape.indexed else len(pods.succeeded)
    values = {"active": len(pods.active), "succeeded": succeeded, "failed": failed}
    for key, value in values.items():
        if value:
            status[key] = value
        else:
            status.pop(key, None)
    status["ready"] = sum(_is_ready(pod) for pod in pods.active)
    status["terminating"] = len(pods.terminating)
    if shape.indexed and done:
        status["completedIndexes"] = format_indexes(done)
    else:
        status.pop("completedIndexes", None)


def is_finished(job: Mapping[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions")
    return condition_true(conditions, "Complete") or condition_true(conditions, "Failed")


def reconcile_job(job: Mapping[str, Any], pods: Iterable[Mapping[str, Any]], *, at: str,
                  released: Iterable[str] = (), suffix: Callable[[], str] = random_suffix) -> JobPlan:
    """One pass of the job controller over `job` and the pods it controls (deleted ones included, see JobMemory).

    `released`: uids of pods this controller deleted without counting them (suspension).
    """
    status: Manifest = copy.deepcopy(dict(job.get("status") or {}))
    plan = JobPlan(status=status)
    if is_finished(job):
        return plan
    shape = shape_of(job["spec"])
    sorted_pods = _partition(pods, set(released))
    done = _succeeded_indexes(sorted_pods, shape) if shape.indexed else set()
    conditions: list[Manifest] = status.setdefault("conditions", [])
    suspended = bool(job["spec"].get("suspend"))
    if not status.get("startTime") and not suspended:
        status["startTime"] = at

    failure = _failure(job, sorted_pods, shape)
    if failure is not None:
        reason, message = failure
        set_condition(conditions, "FailureTarget", "True", reason, message, at, probe=True)
        plan.delete = [name_of(pod) for pod in sorted_pods.active]
        if not sorted_pods.active and not sorted_pods.terminating:
            set_condition(conditions, "Failed", "True", reason, message, at, probe=True)
        # deleted pods still count: the controller treats every unfinished pod of a failed Job as failed
        sorted_pods.terminating += sorted_pods.active
        sorted_pods.active = []
    elif condition_true(conditions, "SuccessCriteriaMet") or _is_done(sorted_pods, shape, done):
        set_condition(conditions, "SuccessCriteriaMet", "True", REASON_COMPLETIONS, COMPLETIONS_MESSAGE, at,
                      probe=True)
        if not sorted_pods.terminating:
            set_condition(conditions, "Complete", "True", REASON_COMPLETIONS, COMPLETIONS_MESSAGE, at, probe=True)
            status["completionTime"] = at
    elif suspended:
        plan.release = [name_of(pod) for pod in sorted_pods.active]
        sorted_pods.active = []
        set_condition(conditions, "Suspended", "True", "JobSuspended", "Job suspended", at, probe=True)
    else:
        if condition_true(conditions, "Suspended"):
            set_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed", at, probe=True)
            status["startTime"] = at  # resuming restarts the activeDeadlineSeconds clock
        plan.create = _new_pods(job, sorted_pods, shape, done, suffix)
    _counters(status, sorted_pods, shape, done, _counted_failures(job, sorted_pods))
    if not conditions:
        del status["conditions"]
    return plan


@dataclass
class JobMemory:
    """What finalizers give the real controller: pods deleted before they finished are not forgotten.

    `observe` returns the pods listed now plus the last seen state of each pod that has gone
    since; one that had not finished is reported Failed (the controller counts it a failure,
    unless a podFailurePolicy rule ignores it, e.g. on its DisruptionTarget condition).
    """

    seen: dict[str, Manifest] = field(default_factory=dict)
    released: set[str] = field(default_factory=set)

    def observe(self, pods: Iterable[Mapping[str, Any]]) -> list[Manifest]:
        listed = {uid_of(pod): dict(pod) for pod in pods}
        gone = [pod for uid, pod in self.seen.items() if uid not in listed and uid not in self.released]
        for pod in gone:
            if not is_terminal(pod):
                pod["status"] = {**(pod.get("status") or {}), "phase": "Failed"}
        self.seen.update(listed)
        return [*listed.values(), *gone]

    def release(self, names: Iterable[str]) -> None:
        """Pods deleted without counting them: they occupy their slot until gone, then nothing."""
        wanted = set(names)
        self.released |= {uid for uid, pod in self.seen.items() if name_of(pod) in wanted}
