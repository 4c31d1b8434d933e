"""Structural schemas of the built-in kinds, from kubernetes-validate's copy of the Kubernetes 1.31 OpenAPI.

They let the server treat built-in objects as it treats custom resources: undeclared fields pruned
(a warning) or refused (strict field validation), wrong types and missing required fields refused,
and strategic merge patches merge lists by the keys the schema declares (containers by name, ...).
Enums are left to the kinds' own checks (builtins.py). Without kubernetes-validate installed, built-in
objects are stored as they come.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

SCHEMA_VERSION = "v1.31.0-local"
_FORMATS = {"byte", "date-time"}  # the formats whose values the server parses (others are informative)


@lru_cache(maxsize=1)
def _directory() -> Any:
    try:
        return resources.files("kubernetes_validate") / "kubernetes-json-schema" / SCHEMA_VERSION
    except ModuleNotFoundError:
        return None


@lru_cache(maxsize=1)
def _definitions() -> dict[str, Any]:
    return json.loads((_directory() / "_definitions.json").read_text())["$defs"]


def _resolve(node: dict[str, Any], seen: frozenset[str]) -> tuple[dict[str, Any] | None, frozenset[str]]:
    """A node with its $ref resolved (None when that would recurse)."""
    if "$ref" not in node:
        return node, seen
    name = node["$ref"].rsplit("/", 1)[-1]
    if name in seen:
        return None, seen
    return {**_definitions()[name], **{k: v for k, v in node.items() if k != "$ref"}}, seen | {name}


def _convert(node: dict[str, Any], seen: frozenset[str]) -> dict[str, Any]:
    resolved, seen = _resolve(node, seen)
    if resolved is None:  # a recursive type: accept whatever is below
        return {"x-kubernetes-preserve-unknown-fields": True}
    node = resolved
    if "oneOf" in node or "anyOf" in node:
        return {}  # IntOrString, Quantity: a number or a string
    out: dict[str, Any] = {}
    kinds = node.get("type")
    if isinstance(kinds, list):
        out["nullable"] = "null" in kinds
        kinds = next((k for k in kinds if k != "null"), None)
    if kinds:
        out["type"] = kinds
    if node.get("format") in _FORMATS:
        out["format"] = node["format"]
    for key in ("required", "x-kubernetes-patch-merge-key", "x-kubernetes-patch-strategy"):
        if key in node:
            out[key] = node[key]
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: _convert(v, seen) for k, v in node["properties"].items()}
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = _convert(extra, seen)
    if isinstance(node.get("items"), dict):
        out["items"] = _convert(node["items"], seen)
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


@lru_cache(maxsize=64)
def schema_of(group: str, version: str, kind: str) -> dict[str, Any] | None:
    """The structural schema of a built-in kind (None when kubernetes-validate has none)."""
    directory = _directory()
    if directory is None:
        return None
    prefix = f"{group.split('.')[0]}-" if group else ""
    path = directory / f"{kind.lower()}-{prefix}{version}.json"
    if not path.is_file():
        return None
    return _convert(json.loads(path.read_text()), frozenset())
