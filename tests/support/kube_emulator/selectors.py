"""Label selectors (`=`, `==`, `!=`, `in`, `notin`, exists, `!key`, `>`/`<`) and field selectors."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kube_emulator.errors import bad_request

_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9._/-]+)\s*"
    r"(?:(?P<op>==|=|!=|>|<|\s+in\s+|\s+notin\s+)\s*(?P<value>\(.*\)|[^,()]*?))?\s*$"
)


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # exists | !exists | = | != | in | notin | > | <
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        try:
            number, bound = int(value or ""), int(self.values[0])
        except ValueError:
            return False
        return number > bound if self.op == ">" else number < bound


def _split(text: str) -> list[str]:
    """Split at commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def parse_labels(text: str | None) -> list[Requirement]:
    """A `labelSelector` query value as requirements; a 400 naming the bad part otherwise."""
    out = []
    for part in _split(text or ""):
        m = _REQUIREMENT.match(part)
        if not m:
            raise bad_request(f"unable to parse requirement: {part.strip()!r}: found unexpected token")
        key, op, value = m["key"], (m["op"] or "").strip(), m["value"]
        if m["neg"]:
            if op:
                raise bad_request(f"unable to parse requirement: {part.strip()!r}: '!' only negates existence")
            out.append(Requirement(key, "!exists"))
        elif not op:
            out.append(Requirement(key, "exists"))
        elif op in ("in", "notin"):
            if not (value.startswith("(") and value.endswith(")")):
                raise bad_request(f"unable to parse requirement: {part.strip()!r}: expected a (value, ...) set")
            values = tuple(v.strip() for v in value[1:-1].split(",") if v.strip())
            out.append(Requirement(key, op, values))
        else:
            out.append(Requirement(key, "=" if op == "==" else op, (value.strip(),)))
    return out


def labels_match(requirements: list[Requirement], obj: dict[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in requirements)


def match_label_selector(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A `metav1.LabelSelector` (matchLabels, matchExpressions) against labels; an empty selector matches all."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in selector.get("matchExpressions") or []:
        if not Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())).matches(labels):
            return False
    return True


# The fields a real server lets each kind be selected by (besides metadata.name, metadata.namespace).
_EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                 "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                 "reason", "reportingComponent", "source", "type")
FIELD_LABELS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "events"): _EVENT_FIELDS,
    ("events.k8s.io", "events"): ("regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
                                  "reason", "reportingController", "type"),
    ("", "pods"): ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                   "status.phase", "status.podIP", "status.nominatedNodeName"),
    ("", "namespaces"): ("status.phase",),
    ("", "secrets"): ("type",),
    ("batch", "jobs"): ("status.successful",),
}


def _field_value(obj: dict[str, Any], path: str) -> str:
    if path == "source":
        return str((obj.get("source") or {}).get("component", ""))
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return ""
    return str(node).lower() if isinstance(node, bool) else str(node)


def parse_fields(text: str | None, storage_key: tuple[str, str]) -> Callable[[dict[str, Any]], bool]:
    """A `fieldSelector` query value as a predicate; a 400 for fields the kind cannot be selected by."""
    allowed = ("metadata.name", "metadata.namespace", *FIELD_LABELS.get(storage_key, ()))
    terms: list[tuple[str, bool, str]] = []
    for part in _split(text or ""):
        m = re.match(r"^\s*([A-Za-z0-9._]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request(f"invalid selector: {part.strip()!r}; can't understand it")
        if m[1] not in allowed:
            raise bad_request(f'field label not supported: {m[1]}')
        terms.append((m[1], m[2] != "!=", m[3]))

    def matches(obj: dict[str, Any]) -> bool:
        return all((_field_value(obj, f) == v) == equal for f, equal, v in terms)

    return matches
