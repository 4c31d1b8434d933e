"""Server-side tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), what `kubectl get` prints.

Custom resources get NAME plus their version's additionalPrinterColumns (NAME and AGE without
them); the built-in kinds get the columns a real server gives them (wide ones at priority 1).
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Callable
from typing import Any

from kube_emulator.jsonpath import JSONPathError, evaluate
from kube_emulator.registry import ResourceType

Cell = Callable[[dict[str, Any]], Any]
NAME_COLUMN = {"name": "Name", "type": "string", "format": "name", "priority": 0,
               "description": "Name must be unique within a namespace."}


def human_duration(seconds: float) -> str:
    """apimachinery's `duration.HumanDuration`: 45s, 2m30s, 12m, 3h4m, 9h, 2d5h, 40d, 2y3d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 120:
        return f"{max(s, 0)}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _parse_time(stamp: Any) -> datetime.datetime | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def since(stamp: Any) -> str:
    when = _parse_time(stamp)
    if when is None:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.UTC) - when).total_seconds())


def _age(obj: dict[str, Any]) -> str:
    return since(obj["metadata"].get("creationTimestamp"))


def _g(obj: Any, *path: str, default: Any = None) -> Any:
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return default if obj is None else obj


def _pod_status(pod: dict[str, Any]) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for cs in _g(pod, "status", "containerStatuses", default=[]):
        reason = _g(cs, "state", "waiting", "reason") or _g(cs, "state", "terminated", "reason")
        if reason:
            return str(reason)
    return str(_g(pod, "status", "reason") or _g(pod, "status", "phase", default="Pending"))


def _job_status(job: dict[str, Any]) -> str:
    conditions = {c.get("type"): c.get("status") for c in _g(job, "status", "conditions", default=[])}
    for kind in ("Complete", "Failed", "FailureTarget", "Suspended"):
        if conditions.get(kind) == "True":
            return kind
    return "Running"


def _job_duration(job: dict[str, Any]) -> str:
    start = _parse_time(_g(job, "status", "startTime"))
    if start is None:
        return ""
    end = _parse_time(_g(job, "status", "completionTime")) or datetime.datetime.now(datetime.UTC)
    return human_duration((end - start).total_seconds())


def _containers(template_spec: Any, what: str) -> str:
    return ",".join(str(c.get(what, "")) for c in _g(template_spec, "containers", default=[]))


def _selector(sel: Any) -> str:
    labels = sel.get("matchLabels", sel) if isinstance(sel, dict) else {}
    return ",".join(f"{k}={v}" for k, v in labels.items() if isinstance(v, str)) or "<none>"


def _ports(svc: dict[str, Any]) -> str:
    out = []
    for p in _g(svc, "spec", "ports", default=[]):
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        out.append(f"{p.get('port')}{node}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _event_object(ev: dict[str, Any]) -> str:
    ref = ev.get("involvedObject") or ev.get("regarding") or {}
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


def _last_seen(ev: dict[str, Any]) -> str:
    stamp = ev.get("lastTimestamp") or ev.get("eventTime") or _g(ev, "series", "lastObservedTime") \
        or ev["metadata"].get("creationTimestamp")
    return since(stamp)


def _column(name: str, kind: str, cell: Cell, priority: int = 0) -> tuple[dict[str, Any], Cell]:
    return ({"name": name, "type": kind, "format": "", "description": name, "priority": priority}, cell)


_AGE = _column("Age", "string", _age)
_CREATED = _column("Created At", "date", lambda o: o["metadata"].get("creationTimestamp"))
_EVENT_COLUMNS = [
    _column("Last Seen", "string", _last_seen),
    _column("Type", "string", lambda e: e.get("type", "")),
    _column("Reason", "string", lambda e: e.get("reason", "")),
    _column("Object", "string", _event_object),
    _column("Subobject", "string", lambda e: _g(e, "involvedObject", "fieldPath", default=""), 1),
    _column("Source", "string", lambda e: _g(e, "source", "component") or e.get("reportingController")
            or e.get("reportingComponent", ""), 1),
    _column("Message", "string", lambda e: e.get("message") or e.get("note", "")),
    _column("First Seen", "string", lambda e: since(e.get("firstTimestamp") or e.get("eventTime")), 1),
    _column("Count", "integer", lambda e: e.get("count") or _g(e, "series", "count", default=1), 1),
    _column("Name", "string", lambda e: e["metadata"]["name"], 1),
]
NAME_LAST = {("", "events"), ("events.k8s.io", "events")}  # events name their rows last, at priority 1
BUILTIN_COLUMNS: dict[tuple[str, str], list[tuple[dict[str, Any], Cell]]] = {
    ("", "namespaces"): [_column("Status", "string", lambda o: _g(o, "status", "phase", default="")), _AGE],
    ("", "pods"): [
        _column("Ready", "string", lambda p: "{}/{}".format(
            sum(bool(c.get("ready")) for c in _g(p, "status", "containerStatuses", default=[])),
            len(_g(p, "spec", "containers", default=[])))),
        _column("Status", "string", _pod_status),
        _column("Restarts", "string", lambda p: str(sum(c.get("restartCount", 0)
                                                        for c in _g(p, "status", "containerStatuses", default=[])))),
        _AGE,
        _column("IP", "string", lambda p: _g(p, "status", "podIP", default="<none>"), 1),
        _column("Node", "string", lambda p: _g(p, "spec", "nodeName", default="<none>"), 1),
    ],
    ("", "services"): [
        _column("Type", "string", lambda s: _g(s, "spec", "type", default="ClusterIP")),
        _column("Cluster-IP", "string", lambda s: _g(s, "spec", "clusterIP", default="<none>")),
        _column("External-IP", "string", lambda s: ",".join(_g(s, "spec", "externalIPs", default=[])) or "<none>"),
        _column("Port(s)", "string", _ports),
        _AGE,
        _column("Selector", "string", lambda s: _selector(_g(s, "spec", "selector", default={})), 1),
    ],
    ("", "configmaps"): [_column("Data", "integer", lambda c: len(c.get("data") or {}) + len(c.get("binaryData")
                                                                                              or {})), _AGE],
    ("", "secrets"): [_column("Type", "string", lambda s: s.get("type", "Opaque")),
                      _column("Data", "integer", lambda s: len(s.get("data") or {})), _AGE],
    ("", "serviceaccounts"): [_column("Secrets", "integer", lambda s: len(s.get("secrets") or [])), _AGE],
    ("", "events"): _EVENT_COLUMNS,
    ("events.k8s.io", "events"): _EVENT_COLUMNS,
    ("batch", "jobs"): [
        _column("Status", "string", _job_status),
        _column("Completions", "string", lambda j: "{}/{}".format(
            _g(j, "status", "succeeded", default=0), _g(j, "spec", "completions", default=1))),
        _column("Duration", "string", _job_duration),
        _AGE,
        _column("Containers", "string", lambda j: _containers(_g(j, "spec", "template", "spec"), "name"), 1),
        _column("Images", "string", lambda j: _containers(_g(j, "spec", "template", "spec"), "image"), 1),
        _column("Selector", "string", lambda j: _selector(_g(j, "spec", "selector", default={})), 1),
    ],
    ("apps", "deployments"): [
        _column("Ready", "string", lambda d: "{}/{}".format(_g(d, "status", "readyReplicas", default=0),
                                                            _g(d, "spec", "replicas", default=1))),
        _column("Up-to-date", "integer", lambda d: _g(d, "status", "updatedReplicas", default=0)),
        _column("Available", "integer", lambda d: _g(d, "status", "availableReplicas", default=0)),
        _AGE,
        _column("Containers", "string", lambda d: _containers(_g(d, "spec", "template", "spec"), "name"), 1),
        _column("Images", "string", lambda d: _containers(_g(d, "spec", "template", "spec"), "image"), 1),
        _column("Selector", "string", lambda d: _selector(_g(d, "spec", "selector", default={})), 1),
    ],
    ("apiextensions.k8s.io", "customresourcedefinitions"): [_CREATED],
    ("coordination.k8s.io", "leases"): [_column("Holder", "string", lambda o: _g(o, "spec", "holderIdentity",
                                                                                default="")), _AGE],
    ("rbac.authorization.k8s.io", "roles"): [_CREATED],
    ("rbac.authorization.k8s.io", "clusterroles"): [_CREATED],
    ("rbac.authorization.k8s.io", "rolebindings"): [
        _column("Role", "string", lambda o: f"{_g(o, 'roleRef', 'kind')}/{_g(o, 'roleRef', 'name')}"), _AGE],
    ("rbac.authorization.k8s.io", "clusterrolebindings"): [
        _column("Role", "string", lambda o: f"{_g(o, 'roleRef', 'kind')}/{_g(o, 'roleRef', 'name')}"), _AGE],
}


def _crd_cell(column: dict[str, Any], obj: dict[str, Any]) -> Any:
    try:
        found = evaluate(column.get("jsonPath", ""), obj)
    except (JSONPathError, ValueError):
        return None
    if not found or found[0] is None:
        return None
    value, kind = found[0], column.get("type")
    if kind == "string":
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if kind == "integer":
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if kind == "number":
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "date":
        return since(value) if isinstance(value, str) else None
    return None


def _columns(rt: ResourceType) -> list[tuple[dict[str, Any], Cell]]:
    if rt.crd is None:
        return BUILTIN_COLUMNS.get(rt.key, [_AGE])
    if not rt.printer_columns:
        return [_AGE]
    out: list[tuple[dict[str, Any], Cell]] = []
    for col in rt.printer_columns:
        definition = {"name": col["name"], "type": col.get("type", "string"), "format": col.get("format", ""),
                      "description": col.get("description", ""), "priority": col.get("priority", 0)}
        out.append((definition, functools.partial(_crd_cell, col)))
    return out


def _row_object(obj: dict[str, Any], include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(rt: ResourceType, objs: list[dict[str, Any]], resource_version: str, include: str = "Metadata",
          headers: bool = True, continue_token: str | None = None) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of `objs` (one row each)."""
    columns = _columns(rt)
    if rt.key not in NAME_LAST:
        columns = [(NAME_COLUMN, lambda o: o["metadata"]["name"]), *columns]
    rows = []
    for obj in objs:
        row: dict[str, Any] = {"cells": [cell(obj) for _, cell in columns]}
        embedded = _row_object(obj, include)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    meta: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    out: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "rows": rows}
    if headers:
        out["columnDefinitions"] = [definition for definition, _ in columns]
    return out
