"""The unit library: reusable, documented units shipped as source files in `units/`.

Each file holds one unit (a GAUBase subclass), its CHILDREN_DECLARATIONS and a
UNIT_INFO literal: the unit's role (what it can replace) and the hyper-parameter
choices a designer may try. Files are read as text and parsed, never imported: a
unit's source is exactly what a Design manifest carries as `code`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

from genesys.api.naming import suggest

Role = Literal["block", "token_mixer", "channel_mixer", "norm", "position", "conv", "component"]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]


class UnitNotFoundError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class UnitInfo:
    name: str
    role: str
    source: str
    doc: str
    children: tuple[str, ...]
    search_space: dict[str, list[Any]] = field(default_factory=dict)
    filename: str = ""


def _literal(node: ast.AST, filename: str, what: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"{filename}: {what} must be a literal (numbers, strings, lists, dicts)") from None


def parse_unit_source(source: str, filename: str = "<unit>") -> UnitInfo:
    """Read a unit file's name, docstring, declared children and UNIT_INFO from its AST."""
    tree = ast.parse(source, filename)
    classes = [
        n for n in tree.body
        if isinstance(n, ast.ClassDef) and any(getattr(b, "id", None) == "GAUBase" for b in n.bases)
    ]
    if len(classes) != 1:
        raise ValueError(f"{filename}: a unit file defines exactly one GAUBase subclass, found {len(classes)}")
    cls = classes[0]
    info: dict[str, Any] = {}
    children: list[str] = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        target = node.targets[0].id
        if target == "UNIT_INFO":
            info = _literal(node.value, filename, "UNIT_INFO")
        elif target == "CHILDREN_DECLARATIONS":
            for call in getattr(node.value, "elts", []):
                for kw in getattr(call, "keywords", []):
                    if kw.arg == "unitname":
                        children.append(_literal(kw.value, filename, "unitname"))
                if getattr(call, "args", None):
                    children.append(_literal(call.args[0], filename, "unitname"))
    role = info.get("role")
    if role not in ROLES:
        raise ValueError(f"{filename}: UNIT_INFO['role'] is {role!r}; use one of {', '.join(ROLES)}")
    return UnitInfo(
        name=cls.name,
        role=role,
        source=source,
        doc=ast.get_docstring(cls) or "",
        children=tuple(children),
        search_space=dict(info.get("search_space", {})),
        filename=filename,
    )


@cache
def library() -> dict[str, UnitInfo]:
    """Every unit shipped with genesys, by class name."""
    units: dict[str, UnitInfo] = {}
    for entry in sorted(resources.files("genesys.gau").joinpath("units").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".py"):
            continue
        unit = parse_unit_source(entry.read_text(encoding="utf-8"), f"units/{entry.name}")
        if unit.name in units:
            raise ValueError(f"units/{entry.name}: unit {unit.name} is already defined in {units[unit.name].filename}")
        units[unit.name] = unit
    return units


def get_unit(name: str) -> UnitInfo:
    units = library()
    if name not in units:
        raise UnitNotFoundError(f"no unit named {name!r} in the library; {suggest(name, units)}")
    return units[name]


def units_by_role(role: str) -> list[UnitInfo]:
    return [u for u in library().values() if u.role == role]
