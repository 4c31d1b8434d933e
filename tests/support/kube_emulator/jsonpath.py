"""The JSONPath of printer columns: `.a.b`, `['a.b']`, `[0]`, `[-1]`, `[*]`, `[1:3]`, `[?(@.type=="Ready")]`.

A path yields every value it reaches (none when a field is missing), as client-go's jsonpath does.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FILTER = re.compile(r"^\?\(\s*@((?:\.[^\s=!<>)]+)*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*\)$")


class JSONPathError(ValueError):
    pass


_TOKEN = re.compile(r"""\.([^.\[]+)|\[(?:'[^']*'|"[^"]*"|[^\]'"])*\]""")


def _split(path: str) -> list[str]:
    """`.a['b.c'][0]` -> ['.a', "['b.c']", '[0]']."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    if path in (".", ""):
        return []
    steps, pos = [], 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            raise JSONPathError(f"unexpected {path[pos]!r} at {pos} in {path!r}: steps are .field or [...]")
        steps.append(m.group(0))
        pos = m.end()
    return steps


def _literal(text: str) -> Any:
    text = text.strip()
    if text[:1] in "'\"" and text[-1:] == text[:1]:
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def _compare(value: Any, op: str | None, literal: Any) -> bool:
    if op is None:
        return value is not None
    if op in ("==", "!="):
        equal = value == literal or (isinstance(value, (int, float)) and str(value) == str(literal))
        return equal if op == "==" else not equal
    try:
        return bool({"<": value < literal, ">": value > literal, "<=": value <= literal,
                     ">=": value >= literal}[op])
    except TypeError:
        return False


def _children(values: list[Any], key: str) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if isinstance(v, dict) and key in v:
            out.append(v[key])
        elif isinstance(v, dict) and key == "*":
            out.extend(v.values())
    return out


def _filtered(values: list[Any], inner: str) -> list[Any]:
    m = _FILTER.match(inner)
    if not m:
        raise JSONPathError(f"unsupported filter {inner!r}")
    sub, op, literal = m[1], m[2], _literal(m[3]) if m[3] is not None else None
    out = []
    for v in values:
        for item in v if isinstance(v, list) else []:
            found = evaluate(sub, item) if sub else [item]
            if found and _compare(found[0], op, literal):
                out.append(item)
    return out


def _indexed(values: list[Any], inner: str) -> list[Any]:
    out: list[Any] = []
    for v in [v for v in values if isinstance(v, list)]:
        if inner == "*":
            out.extend(v)
        elif ":" in inner:
            start, stop = (inner.split(":") + [""])[:2]
            out.extend(v[int(start) if start else None:int(stop) if stop else None])
        elif -len(v) <= int(inner) < len(v):
            out.append(v[int(inner)])
    return out


def _step(values: list[Any], step: str) -> list[Any]:
    if step.startswith("."):
        return _children(values, step[1:])
    inner = step[1:-1].strip()
    if inner[:1] in "'\"":
        return _children(values, inner[1:-1])
    if inner.startswith("?"):
        return _filtered(values, inner)
    try:
        return _indexed(values, inner)
    except ValueError as err:
        raise JSONPathError(f"unsupported index {step!r}") from err


def evaluate(path: str, obj: Any) -> list[Any]:
    """Every value `path` reaches in `obj`."""
    values = [obj]
    for step in _split(path):
        values = _step(values, step)
    return values
