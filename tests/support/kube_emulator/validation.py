"""Custom resources admitted against their CRD's structural schema, as the API server does.

In the API server's order: nulls of non-nullable fields are dropped, unknown fields are pruned
(or refused when the client asked for strict field validation), defaults are filled in, then the
OpenAPI v3 constraints are checked, then the CEL rules (`x-kubernetes-validations`) and the
list-map keys (see `cel_rules`). Values an update leaves unchanged are not re-validated
(validation ratcheting, on by default since Kubernetes 1.30).
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from kube_emulator import cel_rules
from kube_emulator.errors import FieldError

# ObjectMeta's fields: anything else under a custom resource's metadata is an unknown field
OBJECT_META_FIELDS = {
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
    "managedFields",
}
_MISSING = cel_rules.ABSENT


@dataclass
class Admission:
    """What admitting an object found: the object as stored, its invalid fields, the fields it pruned."""

    obj: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "integer" if isinstance(value, int) else "number"
    names: dict[type, str] = {str: "string", dict: "object", list: "array"}
    return names.get(type(value), type(value).__name__)


def prune(schema: dict[str, Any], value: Any, path: str, unknown: list[str], root: bool = False) -> Any:
    """`value` without the fields the schema does not declare (listed in `unknown`) and without dropped nulls."""
    if isinstance(value, list):
        items = schema.get("items") or {}
        return [prune(items, v, f"{path}[{n}]", unknown) for n, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    keep_all = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
    out = {}
    for key, sub_value in value.items():
        if root and key in ("apiVersion", "kind") or (schema.get("x-kubernetes-embedded-resource")
                                                     and key in ("apiVersion", "kind", "metadata")):
            out[key] = sub_value
            continue
        if root and key == "metadata":
            out[key] = _prune_metadata(sub_value, unknown)
            continue
        sub = props.get(key, extra if isinstance(extra, dict) else None)
        if sub is None:
            if keep_all:
                out[key] = sub_value  # x-kubernetes-preserve-unknown-fields: kept as it is, all the way down
            else:
                unknown.append(child(path, key))
            continue
        if sub_value is None and not sub.get("nullable"):
            continue  # a null of a non-nullable field is dropped (and defaulted if it has a default)
        where = f"{path}[{key}]" if key not in props and isinstance(extra, dict) else child(path, key)
        out[key] = prune(sub, sub_value, where, unknown)
    return out


def _prune_metadata(meta: Any, unknown: list[str]) -> Any:
    if not isinstance(meta, dict):
        return meta
    for key in meta:
        if key not in OBJECT_META_FIELDS:
            unknown.append(f"metadata.{key}")
    return {k: v for k, v in meta.items() if k in OBJECT_META_FIELDS}


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """`value` with the schema's defaults filled in, top-down (a default's own nested defaults too)."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        out = dict(value)
        for name, sub in props.items():
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties")
        for key, sub_value in out.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None and sub_value is not None:
                out[key] = apply_defaults(sub, sub_value)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], v) for v in value]
    return value


def _is_type(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return wanted == "boolean"
    if wanted == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if wanted == "number":
        return isinstance(value, (int, float))
    return {"string": str, "object": dict, "array": list, "boolean": bool}.get(wanted, object) is type(value)


def _format_ok(fmt: str, value: str) -> bool:
    try:
        if fmt == "date-time":
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            return "T" in value.upper()
        if fmt == "date":
            datetime.date.fromisoformat(value)
        elif fmt == "byte":
            base64.b64decode(value, validate=True)
        elif fmt == "uuid":
            uuid.UUID(value)
    except ValueError:
        return False
    return True


def _number(n: float) -> str:
    return json.dumps(int(n) if isinstance(n, float) and n.is_integer() else n)


def _check_number(schema: dict[str, Any], value: float, path: str, errors: list[FieldError]) -> None:
    if "minimum" in schema:
        low, excl = schema["minimum"], schema.get("exclusiveMinimum") is True
        if value < low or (excl and value == low):
            words = "greater than" if excl else "greater than or equal to"
            errors.append(FieldError(path, "Invalid", value, f"{path} in body should be {words} {_number(low)}"))
    if "maximum" in schema:
        high, excl = schema["maximum"], schema.get("exclusiveMaximum") is True
        if value > high or (excl and value == high):
            words = "less than" if excl else "less than or equal to"
            errors.append(FieldError(path, "Invalid", value, f"{path} in body should be {words} {_number(high)}"))
    step = schema.get("multipleOf")
    if step and (value / step) != int(value / step):
        errors.append(FieldError(path, "Invalid", value, f"{path} in body should be a multiple of {_number(step)}"))


def _check_string(schema: dict[str, Any], value: str, path: str, errors: list[FieldError]) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(FieldError(path, "Invalid", value,
                                 f"{path} in body should be at least {schema['minLength']} chars long"))
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(FieldError(path, "TooLong", value, f"may not be more than {schema['maxLength']} bytes"))
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(FieldError(path, "Invalid", value, f"{path} in body should match '{schema['pattern']}'"))
    fmt = schema.get("format")
    if fmt and not _format_ok(fmt, value):
        errors.append(FieldError(path, "Invalid", value, f'{path} in body must be of type {fmt}: "{value}"'))


def _check_object(schema: dict[str, Any], value: dict[str, Any], old: Any, path: str,
                  errors: list[FieldError]) -> None:
    for name in schema.get("required") or []:
        if name not in value:
            errors.append(FieldError(child(path, name), "Required"))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errors.append(FieldError(path, "Invalid", len(value),
                                 f"{path} in body should have at least {schema['minProperties']} properties"))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errors.append(FieldError(path, "TooMany", len(value),
                                 f"must have at most {schema['maxProperties']} properties"))
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    old_map = old if isinstance(old, dict) else {}
    for key, sub_value in value.items():
        sub = props.get(key, extra if isinstance(extra, dict) else None)
        if sub is not None:
            where = child(path, key) if key in props else f"{path}[{key}]"
            validate(sub, sub_value, old_map.get(key, _MISSING), where, errors)


def _check_array(schema: dict[str, Any], value: list[Any], old: Any, path: str, errors: list[FieldError]) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(FieldError(path, "Invalid", len(value),
                                 f"{path} in body should have at least {schema['minItems']} items"))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(FieldError(path, "TooMany", len(value), f"must have at most {schema['maxItems']} items"))
    if schema.get("uniqueItems") or schema.get("x-kubernetes-list-type") == "set":
        seen: list[Any] = []
        for n, item in enumerate(value):
            if item in seen:
                errors.append(FieldError(f"{path}[{n}]", "Duplicate", item))
            seen.append(item)
    items = schema.get("items")
    if isinstance(items, dict):
        olds = cel_rules.correlate(schema, value, old)
        for n, item in enumerate(value):
            validate(items, item, olds[n], f"{path}[{n}]", errors)


def _check_combinators(schema: dict[str, Any], value: Any, path: str, errors: list[FieldError]) -> None:
    def passes(sub: dict[str, Any]) -> bool:
        found: list[FieldError] = []
        validate(sub, value, _MISSING, path, found)
        return not found

    if "allOf" in schema:
        for sub in schema["allOf"]:
            validate(sub, value, _MISSING, path, errors)
    if "anyOf" in schema and not any(passes(s) for s in schema["anyOf"]):
        errors.append(FieldError(path, "Invalid", value, f"{path} in body must match at least one schema in anyOf"))
    if "oneOf" in schema and sum(passes(s) for s in schema["oneOf"]) != 1:
        errors.append(FieldError(path, "Invalid", value, f"{path} in body must match exactly one schema in oneOf"))
    if "not" in schema and passes(schema["not"]):
        errors.append(FieldError(path, "Invalid", value, f"{path} in body must not match the schema in not"))


def validate(schema: dict[str, Any], value: Any, old: Any, path: str, errors: list[FieldError]) -> None:
    """The OpenAPI constraints `value` breaks, appended to `errors` (unchanged values are ratcheted)."""
    if old is not _MISSING and value == old:
        return
    if value is None:
        if not schema.get("nullable") and "type" in schema:
            errors.append(FieldError(path, "TypeInvalid", value,
                                     f'{path} in body must be of type {schema["type"]}: "null"'))
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            errors.append(FieldError(path, "TypeInvalid", value,
                                     f'{path} in body must be of type int-or-string: "{json_type(value)}"'))
        return
    wanted = schema.get("type")
    if wanted and not _is_type(value, wanted):
        errors.append(FieldError(path, "TypeInvalid", value,
                                 f'{path} in body must be of type {wanted}: "{json_type(value)}"'))
        return
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(json.dumps(v) for v in schema["enum"])
        errors.append(FieldError(path, "NotSupported", value, f"supported values: {supported}"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(schema, value, path, errors)
    elif isinstance(value, str):
        _check_string(schema, value, path, errors)
    elif isinstance(value, dict):
        _check_object(schema, value, old, path, errors)
    elif isinstance(value, list):
        _check_array(schema, value, old, path, errors)
    _check_combinators(schema, value, path, errors)


def admit(schema: dict[str, Any] | None, obj: dict[str, Any], old: dict[str, Any] | None,
          rules: bool = True) -> Admission:
    """Prune, default and validate an object against a structural schema (and its CEL rules and list keys)."""
    if not schema:
        return Admission(obj)
    unknown: list[str] = []
    pruned = prune(schema, obj, "", unknown, root=True)
    body = {k: v for k, v in pruned.items() if k not in ("apiVersion", "kind", "metadata")}
    defaulted = apply_defaults(schema, body)
    out = {**{k: pruned[k] for k in ("apiVersion", "kind", "metadata") if k in pruned}, **defaulted}
    errors: list[FieldError] = []
    old_body = {k: v for k, v in old.items() if k not in ("apiVersion", "kind", "metadata")} if old else _MISSING
    validate({**schema, "required": [r for r in schema.get("required") or [] if r != "metadata"],
              "properties": {k: v for k, v in (schema.get("properties") or {}).items() if k != "metadata"}},
             defaulted, old_body, "", errors)
    if not errors and rules:
        errors += cel_rules.rule_errors(schema, _cel_root(out), _cel_root(old) if old else _MISSING, "")
    return Admission(out, errors, unknown)


def _cel_root(obj: dict[str, Any]) -> dict[str, Any]:
    """The object root-level rules see: metadata reduced to name and generateName, as on a real server."""
    meta = obj.get("metadata") or {}
    return {**obj, "metadata": {k: meta[k] for k in ("name", "generateName") if k in meta}}
