"""Admission of a written object: its metadata, its kind's own checks, and a CRD's schema and rules."""

from __future__ import annotations

from typing import Any

from kube_emulator import validation
from kube_emulator.builtin_schemas import schema_of
from kube_emulator.crds import crd_problems
from kube_emulator.errors import FieldError
from kube_emulator.meta import metadata_problems
from kube_emulator.registry import ResourceType


def builtin_schema(rt: ResourceType) -> dict[str, Any] | None:
    """A built-in kind's schema (CRDs are checked by crds.py, access reviews are never stored)."""
    if rt.virtual or (rt.group, rt.plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
        return None
    return schema_of(rt.group, rt.version, rt.kind)


def admit(rt: ResourceType, obj: dict[str, Any],
          old: dict[str, Any] | None) -> tuple[dict[str, Any], list[str], list[FieldError]]:
    """The object as stored (pruned and defaulted), the unknown fields pruned, and what is invalid."""
    schema = rt.schema if rt.crd is not None else builtin_schema(rt)
    result = validation.admit(schema, obj, old, rules=rt.crd is not None)
    problems = metadata_problems(result.obj.get("metadata") or {}, rt.name_rule) + result.errors
    if rt.hooks.validate:
        problems += rt.hooks.validate(result.obj, old)
    if rt.group == "apiextensions.k8s.io" and rt.plural == "customresourcedefinitions":
        problems += crd_problems(result.obj, old)
    return result.obj, result.unknown, problems
