"""Kubernetes names of an Evolution's children: unique per namespace, while the core's are per evolution.

    k8s_name("demo", "design-0003-cpu-1")     # 'demo-design-0003-cpu-1'
    labels_for("demo", "design-0003")          # {'genesys.dev/evolution': 'demo', 'genesys.dev/name': 'design-0003'}
    logical_name(obj)                          # 'design-0003', read back from the object's annotation

A name is `<evolution>-<logical>` when that is a DNS-1035 label of at most `limit`
characters; otherwise a cleaned, truncated prefix plus a hash of the pair. Plain names
of two Evolutions can only meet when one Evolution's name is the other's followed by
'-' ("demo" and "demo-gpt2"); `conflicting_evolution` finds that before anything is created.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

EVOLUTION_LABEL = "genesys.dev/evolution"
NAME_LABEL = "genesys.dev/name"
NAME_LIMIT = 63  # a DNS-1035 label: Services, Job pods' hostnames and label values all need it
HASH_CHARS = 10  # 40 bits: a clash needs equal prefixes and equal hashes

# DNS-1035 label (Services need it; it is also a valid DNS-1123 label): a letter first.
_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# A label value: alphanumerics, '-', '_' and '.', alphanumeric at both ends.
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _digest(*parts: str) -> str:
    # "\0" cannot occur in a name, so ("a-b", "c") and ("a", "b-c") hash differently
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:HASH_CHARS]


def _hashed(text: str, digest: str, limit: int) -> str:
    """`text` cleaned to a DNS-1035 label, cut to leave room for '-<digest>', then the digest."""
    clean = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    if not clean[:1].isalpha():
        clean = "g-" + clean  # Service names start with a letter
    prefix = clean[: limit - HASH_CHARS - 1].strip("-")
    return f"{prefix}-{digest}"


def k8s_name(evolution: str, logical: str, limit: int = NAME_LIMIT) -> str:
    """The Kubernetes name of `evolution`'s child `logical`: readable when it fits, else hashed.

    `limit` below 63 leaves room for suffixes a controller adds (an Indexed Job's pods are
    `<job>-<index>`, a PyTorchJob's Services `<job>-worker-<i>`).
    """
    assert limit > HASH_CHARS + 4, "the hash needs room"
    plain = f"{evolution}-{logical}"
    if len(plain) <= limit and _LABEL.match(plain):
        return plain
    return _hashed(plain, _digest(evolution, logical), limit)


def label_value(value: str) -> str:
    """`value` as a label value (at most 63 characters); the full value goes into an annotation."""
    if len(value) <= NAME_LIMIT and _LABEL_VALUE.match(value):
        return value
    return _hashed(value, _digest(value), NAME_LIMIT)


def labels_for(evolution: str, logical: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Labels to select an evolution's children by (`genesys.dev/evolution=...`) and to find one by name."""
    labels = {EVOLUTION_LABEL: label_value(evolution), NAME_LABEL: label_value(logical)}
    labels.update({key: label_value(value) for key, value in (extra or {}).items()})
    return labels


def annotations_for(evolution: str, logical: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The full values behind the labels: always written, so reading never depends on their length."""
    return {EVOLUTION_LABEL: evolution, NAME_LABEL: logical, **(extra or {})}


def evolution_selector(evolution: str) -> str:
    """The label selector of every child of `evolution` (for a fresh LIST before planning)."""
    return f"{EVOLUTION_LABEL}={label_value(evolution)}"


def annotation(obj: Mapping[str, Any], key: str) -> str | None:
    """An annotation of an object as the API server returns it, or None."""
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(key)


def logical_name(obj: Mapping[str, Any]) -> str:
    """The core's name of a child, as `annotations_for` wrote it."""
    name = annotation(obj, NAME_LABEL)
    if name is None:
        raise ValueError(f"{obj['metadata']['name']} has no {NAME_LABEL} annotation: it was not made by genesys")
    return name


def conflicting_evolution(evolution: str, others: Iterable[str]) -> str | None:
    """Another Evolution of the namespace whose children could take this one's names, or None.

    `a-b` and `a` clash when `a`'s child `b-x` and `a-b`'s child `x` exist; any other pair
    of names never does (hashed names carry a hash of the whole pair).
    """
    for other in sorted(others):
        if other != evolution and (other.startswith(evolution + "-") or evolution.startswith(other + "-")):
            return other
    return None
