"""How a child (a session Job, a training Job or PyTorchJob) is doing, read from its conditions and pods.

    ended = child_exit(job, pods)    # None while it runs; else an `Exit` for the core to settle

Pure: the handler lists the child and its pods, this module reads them. The core
(`genesys.evolution.outcomes`) decides what an exit means together with the result the
child left in the store; here only "how did it end" is answered, as the local runtime
answers it from a process's return code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from genesys.evolution.outcomes import Exit

# A pod's container killed by a signal exits 128 + signal (SIGKILL 137, SIGTERM 143).
SIGNAL_EXIT = 128


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition
    return None


def finished(child: Mapping[str, Any]) -> str | None:
    """'succeeded' or 'failed' once the Job (Complete/Failed) or PyTorchJob (Succeeded/Failed) has ended."""
    if _condition(child, "Complete") or _condition(child, "Succeeded"):
        return "succeeded"
    if _condition(child, "Failed"):
        return "failed"
    return None


def _terminated(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        state = (status.get("state") or {}).get("terminated")
        if state is not None:
            return state
    return None


def last_failed_pod(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The pod that failed last (the one whose exit decided the child's end)."""
    failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
    key = lambda p: ((_terminated(p) or {}).get("finishedAt") or "", p["metadata"]["name"])  # noqa: E731
    return max(failed, key=key, default=None)


def pod_exit(pod: Mapping[str, Any]) -> Exit:
    """A failed pod's exit: its code, and whether it was stopped from outside (disruption, signal)."""
    terminated = _terminated(pod) or {}
    code = terminated.get("exitCode")
    disrupted = _condition(pod, "DisruptionTarget") is not None
    killed = disrupted or (code is not None and code >= SIGNAL_EXIT)
    return Exit(code, killed=killed, log=f"kubectl logs -n {pod['metadata'].get('namespace')} "
                                          f"pod/{pod['metadata']['name']}")


def child_exit(child: Mapping[str, Any] | None, pods: Sequence[Mapping[str, Any]]) -> Exit | None:
    """How the child ended; None while it runs.

    A child that vanished (deleted, garbage-collected, its node gone with it) is an end the
    runtime never saw: Exit(None), which the core retries as a loss. A failed child without
    a failed pod (its pods were removed) is seen the same way.
    """
    if child is None:
        return Exit(None)
    outcome = finished(child)
    if outcome is None:
        return None
    if outcome == "succeeded":
        return Exit(0)
    pod = last_failed_pod(pods)
    return pod_exit(pod) if pod is not None else Exit(None)


def _first_rank(pod: Mapping[str, Any]) -> bool:
    """Rank 0's pod: an Indexed Job's index 0, or a PyTorchJob's Master."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return (labels.get("batch.kubernetes.io/job-completion-index", "0") == "0"
            and labels.get("training.kubeflow.org/replica-type", "master") == "master")


def rank_zero(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The child's newest rank-0 pod; a new one means its controller started the run again
    (a PyTorchJob replaces a preempted pod under the same name, so only its uid tells)."""
    ranks = [p for p in pods if _first_rank(p)]
    return max(ranks, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]),
               default=None)


def started(child: Mapping[str, Any] | None) -> str | None:
    """When the child started running (its status.startTime), as the API server spells it."""
    return ((child or {}).get("status") or {}).get("startTime")
