"""CustomResourceDefinitions: what the API server refuses in one, and the status it reports.

A CRD is established as soon as it is stored (a real server takes a moment; clients that wait for
`Established=True` see it at once here).
"""

from __future__ import annotations

from typing import Any

from kube_emulator.cel_rules import compile_problems
from kube_emulator.errors import FieldError
from kube_emulator.meta import name_problems


def _version_problems(spec: dict[str, Any]) -> list[FieldError]:
    errors = []
    versions = spec.get("versions") or []
    if not versions:
        return [FieldError("spec.versions", "Invalid", versions, "must have exactly one version marked as storage "
                           "version")]
    if sum(bool(v.get("storage")) for v in versions) != 1:
        errors.append(FieldError("spec.versions", "Invalid", versions, "must have exactly one version marked as "
                                 "storage version"))
    names = [v.get("name") for v in versions]
    for n, version in enumerate(versions):
        where = f"spec.versions[{n}]"
        if names.index(version.get("name")) != n:
            errors.append(FieldError(f"{where}.name", "Duplicate", version.get("name")))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not schema:
            errors.append(FieldError(f"{where}.schema.openAPIV3Schema", "Required", detail="schemas are required"))
            continue
        if schema.get("type") != "object":
            errors.append(FieldError(f"{where}.schema.openAPIV3Schema.type", "Required",
                                     detail="must be object at the root"))
        errors += [FieldError(f"{where}.schema.{p.split(':', 1)[0]}", "Invalid", "", p.split(": ", 1)[1])
                   for p in compile_problems(schema)]
        for column in version.get("additionalPrinterColumns") or []:
            if column.get("type") not in ("integer", "number", "string", "boolean", "date"):
                errors.append(FieldError(f"{where}.additionalPrinterColumns.type", "NotSupported",
                                         column.get("type"), 'supported values: "integer", "number", "string", '
                                         '"boolean", "date"'))
    return errors


def crd_problems(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    """What a real API server refuses in a CustomResourceDefinition."""
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    errors = []
    for key in ("plural", "kind"):
        if not names.get(key):
            errors.append(FieldError(f"spec.names.{key}", "Required"))
    group = spec.get("group") or ""
    if not group:
        errors.append(FieldError("spec.group", "Required"))
    elif "." not in group:
        errors.append(FieldError("spec.group", "Invalid", group, "should be a domain with at least one dot"))
    if names.get("plural"):
        errors += [FieldError("spec.names.plural", "Invalid", names["plural"], p)
                   for p in name_problems(names["plural"], "label")]
    expected = f"{names.get('plural')}.{group}"
    if obj["metadata"].get("name") != expected:
        errors.append(FieldError("metadata.name", "Invalid", obj["metadata"].get("name"),
                                 'must be spec.names.plural+"."+spec.group'))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errors.append(FieldError("spec.scope", "NotSupported", spec.get("scope"),
                                 'supported values: "Cluster", "Namespaced"'))
    if old is not None:
        for key in ("group", "scope"):
            if spec.get(key) != (old.get("spec") or {}).get(key):
                errors.append(FieldError(f"spec.{key}", "Invalid", spec.get(key), "field is immutable"))
    return errors + _version_problems(spec)


def crd_status(obj: dict[str, Any], now: str) -> dict[str, Any]:
    """An established CRD's status: names accepted, established, the storage version recorded."""
    spec = obj["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", f"{names['kind']}List")
    old_status = obj.get("status") or {}
    stored = list(old_status.get("storedVersions") or [])
    stored += [v["name"] for v in spec["versions"] if v.get("storage") and v["name"] not in stored]
    return {
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found",
             "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
        "storedVersions": stored,
    }
