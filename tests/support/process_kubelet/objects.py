"""Small helpers over Kubernetes objects as plain dicts (what the API server returns as JSON).

Conditions, owner references, timestamps and the random name suffixes controllers use; shared
by the Job and PyTorchJob controllers and the kubelet.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

Manifest = dict[str, Any]

# The alphabet of generateName suffixes (k8s.io/apimachinery/pkg/util/rand): no vowels, no look-alikes.
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
TERMINAL_PHASES = ("Succeeded", "Failed")


def now() -> str:
    """The current time as the API server writes it (RFC 3339, seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(length: int = 5) -> str:
    return "".join(random.choice(SUFFIX_ALPHABET) for _ in range(length))


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def name_of(obj: Mapping[str, Any]) -> str:
    return meta(obj)["name"]


def uid_of(obj: Mapping[str, Any]) -> str:
    return meta(obj).get("uid") or ""


def controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference with controller: true, if any."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def controller_reference(owner: Mapping[str, Any], api_version: str, kind: str) -> Manifest:
    """The reference a controller puts on what it creates: deleting the owner garbage-collects the child."""
    return {"apiVersion": api_version, "kind": kind, "name": name_of(owner), "uid": uid_of(owner),
            "controller": True, "blockOwnerDeletion": True}


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def phase_of(pod: Mapping[str, Any]) -> str:
    return (pod.get("status") or {}).get("phase") or "Pending"


def is_terminal(pod: Mapping[str, Any]) -> bool:
    return phase_of(pod) in TERMINAL_PHASES


def find_condition(conditions: list[Manifest] | None, kind: str) -> Manifest | None:
    for condition in conditions or []:
        if condition.get("type") == kind:
            return condition
    return None


def condition_true(conditions: list[Manifest] | None, kind: str) -> bool:
    found = find_condition(conditions, kind)
    return found is not None and found.get("status") == "True"


def set_condition(conditions: list[Manifest], kind: str, status: str, reason: str, message: str,
                  at: str, *, probe: bool = False) -> bool:
    """Add or update condition `kind` in place; False when nothing changed.

    Like the controllers: lastTransitionTime moves only when the status does, and an unchanged
    (status, reason, message) is not written again. `probe` adds lastProbeTime (Job conditions have it).
    """
    current = find_condition(conditions, kind)
    if current is not None and (current.get("status"), current.get("reason"), current.get("message")) == (
            status, reason, message):
        return False
    entry: Manifest = {"type": kind, "status": status, "reason": reason, "message": message,
                       "lastTransitionTime": at}
    if probe:
        entry["lastProbeTime"] = at
    if current is not None:
        if current.get("status") == status:
            entry["lastTransitionTime"] = current.get("lastTransitionTime", at)
        conditions[conditions.index(current)] = entry
    else:
        conditions.append(entry)
    return True


def terminated_state(pod: Mapping[str, Any], container: str | None = None) -> Manifest | None:
    """state.terminated of `container` (the first container when None), if it has ended."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if container is None or status.get("name") == container:
            return (status.get("state") or {}).get("terminated")
    return None
