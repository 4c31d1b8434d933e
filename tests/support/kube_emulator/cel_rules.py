"""`x-kubernetes-validations` CEL rules (cel-python) and list-map key uniqueness.

Values reach CEL typed by the schema, as in the API server: `number` fields are doubles even when
written as integers, `integer` fields ints, a null of a nullable field is an absent field.
Transition rules (those reading `oldSelf`) run only on updates of a value that existed before;
other rules are skipped for values an update leaves unchanged (validation ratcheting).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes

from kube_emulator.errors import FieldError


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()  # no old value (a create, or a field the old object did not have)
_OLD_SELF = re.compile(r"\boldSelf\b")
_REASONS = {"FieldValueRequired": "Required", "FieldValueDuplicate": "Duplicate",
            "FieldValueForbidden": "Forbidden", "FieldValueInvalid": "Invalid"}


@lru_cache(maxsize=1)
def _environment() -> celpy.Environment:
    return celpy.Environment()


@lru_cache(maxsize=512)
def compiled(rule: str) -> Any:
    """A runnable program of a rule (cached); `celpy.CELParseError` if it does not compile."""
    env = _environment()
    return env.program(env.compile(rule))


def compile_problems(schema: dict[str, Any], path: str = "openAPIV3Schema") -> list[str]:
    """The rules (and message expressions) of a schema that do not compile, one line each."""
    problems = []
    for n, rule in enumerate(schema.get("x-kubernetes-validations") or []):
        for key in ("rule", "messageExpression"):
            if key in rule:
                try:
                    compiled(rule[key])
                except Exception as err:  # noqa: BLE001  # celpy raises several parse error types
                    problems.append(f"{path}.x-kubernetes-validations[{n}].{key}: compilation failed: {err}")
    for name, sub in (schema.get("properties") or {}).items():
        problems += compile_problems(sub, f"{path}.properties[{name}]")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            problems += compile_problems(schema[key], f"{path}.{key}")
    return problems


def to_cel(schema: dict[str, Any], value: Any) -> Any:
    """A JSON value as CEL sees it under `schema`."""
    free = schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties")
    if value is None or free or schema.get("x-kubernetes-int-or-string"):
        return celpy.json_to_cel(value)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out = {}
        for key, sub_value in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else {})
            if sub_value is None and sub.get("nullable"):
                continue  # CEL sees a null of a nullable field as an absent field
            out[celtypes.StringType(key)] = to_cel(sub, sub_value)
        return celtypes.MapType(out)
    if isinstance(value, list):
        return celtypes.ListType([to_cel(schema.get("items") or {}, v) for v in value])
    kind = schema.get("type")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return celtypes.DoubleType(value) if kind == "number" else celtypes.IntType(int(value))
    if isinstance(value, str) and schema.get("format") == "date-time":
        try:
            return celtypes.TimestampType(value)
        except ValueError:
            return celtypes.StringType(value)
    return celpy.json_to_cel(value)


def correlate(schema: dict[str, Any], new: list[Any], old: Any) -> list[Any]:
    """The old item of each new list item: by key in list-maps, by value in sets, none in atomic lists."""
    if not isinstance(old, list):
        return [ABSENT] * len(new)
    kind = schema.get("x-kubernetes-list-type")
    if kind == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []

        def key(item: Any) -> Any:
            return tuple(item.get(k) for k in keys) if isinstance(item, dict) else None

        by_key = {key(item): item for item in old}
        return [by_key.get(key(item), ABSENT) for item in new]
    if kind == "set":
        return [item if item in old else ABSENT for item in new]
    return [ABSENT] * len(new)


def _run(rule: dict[str, Any], schema: dict[str, Any], new: Any, old: Any, path: str) -> FieldError | None:
    names = {"self": to_cel(schema, new)}
    if _OLD_SELF.search(rule["rule"]):
        names["oldSelf"] = to_cel(schema, old)
    try:
        verdict = compiled(rule["rule"]).evaluate(names)
    except Exception as err:  # noqa: BLE001  # an evaluation error refuses the object, as on a real server
        verdict = err
    if isinstance(verdict, celtypes.BoolType) and verdict:
        return None
    message = rule.get("message") or f"failed rule: {rule['rule']}"
    if isinstance(verdict, Exception):
        message = f"evaluation of rule {rule['rule']!r} failed: {verdict}"
    elif "messageExpression" in rule:
        try:
            message = str(compiled(rule["messageExpression"]).evaluate(names)) or message
        except Exception:  # noqa: BLE001, S110  # a failing message expression falls back to the message
            pass
    where = path
    if rule.get("fieldPath"):
        where = f"{path}{rule['fieldPath']}" if path else rule["fieldPath"].lstrip(".")
    return FieldError(where, _REASONS.get(rule.get("reason", ""), "Invalid"), schema.get("type", "object"), message)


def _duplicates(schema: dict[str, Any], value: list[Any], path: str) -> list[FieldError]:
    keys = schema.get("x-kubernetes-list-map-keys") or []
    seen: set[Any] = set()
    errors = []
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            continue
        key = tuple(repr(item.get(k)) for k in keys)
        if key in seen:
            errors.append(FieldError(f"{path}[{n}]", "Duplicate", {k: item.get(k) for k in keys}))
        seen.add(key)
    return errors


def rule_errors(schema: dict[str, Any], new: Any, old: Any, path: str) -> list[FieldError]:
    """The CEL rules and list-map keys `new` (an update of `old`, or ABSENT) breaks, anywhere below `schema`."""
    if new is None:
        return []
    unchanged = old is not ABSENT and new == old
    errors = []
    for rule in schema.get("x-kubernetes-validations") or []:
        transition = bool(_OLD_SELF.search(rule["rule"]))
        if (transition and old is ABSENT) or (unchanged and not transition):
            continue
        failed = _run(rule, schema, new, old, path)
        if failed:
            errors.append(failed)
    if isinstance(new, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, value in new.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                before = old.get(key, ABSENT) if isinstance(old, dict) else ABSENT
                where = (f"{path}.{key}" if path else key) if key in props else f"{path}[{key}]"
                errors += rule_errors(sub, value, before, where)
    elif isinstance(new, list):
        if schema.get("x-kubernetes-list-type") == "map" and not unchanged:
            errors += _duplicates(schema, new, path)
        items = schema.get("items")
        if isinstance(items, dict):
            for n, (item, before) in enumerate(zip(new, correlate(schema, new, old), strict=True)):
                errors += rule_errors(items, item, before, f"{path}[{n}]")
    return errors
