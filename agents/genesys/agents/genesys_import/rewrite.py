"""Mechanical rewrites that turn a Genesys unit's source into a genesys-lm unit's, each one reported.

    code, notes = rewrite_unit(unit.code, "Conv", others={"MHA": mha_code, ...}, children=["RMSNorm"])

- the import of GAUBase/UnitDecl from model_discovery becomes `from genesys.gau import ...`;
- a `forward`/`__call__` override of the unit class becomes its `_forward` (a warning: GAUBase's
  wrapper now runs around it);
- `_forward`'s first parameter is renamed to `X` (and its uses);
- `self.__class__` becomes `type(self)`;
- module-level helpers the unit uses but another unit of the tree defines (Genesys keeps all
  units in one module) are copied in, with the helpers they need;
- a missing CHILDREN_DECLARATIONS is written from the tree's children, and a child the tree
  replaced is renamed in the parent's code (Genesys leaves the old name there).
Anything these cannot fix raises ImportBlocked with one line naming it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

GENESYS_MODULES = "model_discovery.model.utils.modules"
HEADER = re.compile(r"^# GAU_IMPLEMENTATION_FILE.*\n", re.M)


class ImportBlocked(ValueError):
    """A unit that the mechanical rewrites cannot bring over; the message is the one-line reason."""


@dataclass(frozen=True)
class Note:
    unit: str
    rewrite: str  # import | call-override | first-parameter | type-self | helper | declarations | children
    message: str
    warning: bool = False

    def text(self) -> str:
        return f"{'warning: ' if self.warning else ''}{self.unit}: {self.message}"


def parse_unit(code: str, unit: str) -> ast.Module:
    try:
        return ast.parse(code)
    except SyntaxError as err:
        raise ImportBlocked(f"unit {unit}, line {err.lineno}: syntax error: {err.msg}") from None


def edit_spans(code: str, edits: list[tuple[int, int, int, str]]) -> str:
    """Replace (line, start byte, end byte) spans, right to left (AST offsets count UTF-8 bytes)."""
    lines = code.splitlines(keepends=True)
    for lineno, start, end, text in sorted(edits, reverse=True):
        raw = lines[lineno - 1].encode("utf-8")
        lines[lineno - 1] = (raw[:start] + text.encode("utf-8") + raw[end:]).decode("utf-8")
    return "".join(lines)


def _unit_class(module: ast.Module, unit: str) -> ast.ClassDef:
    for node in module.body:
        if isinstance(node, ast.ClassDef) and node.name == unit:
            return node
    raise ImportBlocked(f"unit {unit}: its code defines no class {unit}")


def rewrite_imports(code: str, unit: str) -> tuple[str, list[Note]]:
    module = parse_unit(code, unit)
    lines = code.splitlines(keepends=True)
    notes: list[Note] = []
    for node in reversed(module.body):
        if isinstance(node, ast.ImportFrom) and node.module == GENESYS_MODULES:
            kept = sorted({a.name for a in node.names} & {"GAUBase", "UnitDecl"})
            assert node.end_lineno is not None
            lines[node.lineno - 1:node.end_lineno] = [f"from genesys.gau import {', '.join(kept)}\n"] if kept else []
            notes.append(Note(unit, "import", f"import from {GENESYS_MODULES} -> genesys.gau"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            if any(n.split(".")[0] == "model_discovery" for n in names):
                raise ImportBlocked(f"unit {unit}, line {node.lineno}: imports {names[0]}, which genesys-lm does "
                                    "not have (only GAUBase and UnitDecl come over)")
    return HEADER.sub("", "".join(lines)), notes


def rewrite_call_override(code: str, unit: str) -> tuple[str, list[Note]]:
    module = parse_unit(code, unit)
    cls = _unit_class(module, unit)
    methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    overrides = [name for name in ("forward", "__call__") if name in methods]
    if not overrides:
        return code, []
    if "_forward" in methods or len(overrides) > 1:
        both = ", ".join(sorted(set(methods) & {"forward", "__call__", "_forward"}))
        raise ImportBlocked(f"unit {unit}: defines {both}; only one of them can become its _forward")
    node = methods[overrides[0]]
    line = code.splitlines(keepends=True)[node.lineno - 1]
    start = line.encode("utf-8").find(f"def {node.name}".encode())
    code = edit_spans(code, [(node.lineno, start, start + len(f"def {node.name}"), "def _forward")])
    return code, [Note(unit, "call-override", f"{node.name} override -> _forward (GAUBase's wrapper now runs around "
                                              "it: a bare tensor it returns is Y, Z passes through unchanged)",
                       warning=True)]


def rewrite_first_parameter(code: str, unit: str) -> tuple[str, list[Note]]:
    module = parse_unit(code, unit)
    cls = _unit_class(module, unit)
    method = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "_forward"), None)
    if method is None or len(method.args.args) < 2 or method.args.args[1].arg == "X":
        return code, []
    old = method.args.args[1].arg
    taken = {n.id for n in ast.walk(method) if isinstance(n, ast.Name)} | {a.arg for a in ast.walk(method)
                                                                           if isinstance(a, ast.arg)}
    if "X" in taken:
        raise ImportBlocked(f"unit {unit}: _forward's first parameter is {old!r} and it also uses a name X")
    edits = [(a.lineno, a.col_offset, a.col_offset + len(old.encode()), "X") for a in ast.walk(method)
             if isinstance(a, ast.arg) and a.arg == old]
    edits += [(n.lineno, n.col_offset, n.end_col_offset or n.col_offset, "X") for n in ast.walk(method)
              if isinstance(n, ast.Name) and n.id == old]
    return edit_spans(code, edits), [Note(unit, "first-parameter", f"_forward's first parameter {old} -> X")]


def rewrite_type_self(code: str, unit: str) -> tuple[str, list[Note]]:
    module = parse_unit(code, unit)
    edits = [(n.lineno, n.col_offset, n.end_col_offset or n.col_offset, "type(self)") for n in ast.walk(module)
             if isinstance(n, ast.Attribute) and n.attr == "__class__" and isinstance(n.value, ast.Name)
             and n.value.id == "self" and n.lineno == n.end_lineno]
    if not edits:
        return code, []
    return edit_spans(code, edits), [Note(unit, "type-self", f"self.__class__ -> type(self) ({len(edits)}x)")]


def _definitions(module: ast.Module) -> dict[str, ast.stmt]:
    """Module-level names a unit's code defines (functions, classes, assignments), but not the unit classes."""
    found: dict[str, ast.stmt] = {}
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not any(
                getattr(b, "id", None) == "GAUBase" for b in getattr(node, "bases", [])):
            if node.name.startswith("test_"):
                continue
            found[node.name] = node
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id not in ("CHILDREN_DECLARATIONS", "UNIT_INFO", "logger"):
                found[node.targets[0].id] = node
    return found


def _bound(module: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def copy_shared_helpers(code: str, unit: str, others: dict[str, str], units: set[str]) -> tuple[str, list[Note]]:
    """Helpers defined in other units' code that this unit uses (and what they use in turn), appended."""
    import builtins

    module = parse_unit(code, unit)
    pool: dict[str, tuple[str, str]] = {}  # name -> (source text, defining unit)
    for other, source in others.items():
        if other == unit:
            continue
        try:
            other_module = ast.parse(source)
        except SyntaxError:
            continue
        for name, node in _definitions(other_module).items():
            pool.setdefault(name, (ast.get_source_segment(source, node) or "", other))
    have = _bound(module) | set(dir(builtins)) | units
    wanted = [n.id for n in ast.walk(module) if isinstance(n, ast.Name) and n.id not in have]
    copied: dict[str, tuple[str, str]] = {}
    while wanted:
        name = wanted.pop()
        if name in copied or name not in pool:
            continue
        copied[name] = pool[name]
        helper = ast.parse(pool[name][0])
        wanted += [n.id for n in ast.walk(helper) if isinstance(n, ast.Name) and n.id not in have | set(copied)]
    if not copied:
        return code, []
    block = "\n\n".join(text for text, _ in copied.values())
    notes = [Note(unit, "helper", f"copied helper {name} from unit {source}") for name, (_, source) in copied.items()]
    return code.rstrip("\n") + "\n\n\n# Helpers copied from other units of the Genesys design\n" + block + "\n", notes


def _declarations(children: list[str]) -> str:
    entries = "".join(f'    UnitDecl(unitname="{c}", requirements=""),\n' for c in children)
    return f"CHILDREN_DECLARATIONS = [\n{entries}]\n" if children else "CHILDREN_DECLARATIONS = []\n"


def write_declarations(code: str, unit: str, children: list[str]) -> tuple[str, list[Note]]:
    from genesys.gau.checker.unit_ast import declared_children

    declared = declared_children(parse_unit(code, unit))
    if declared is not None:
        return _splice_children(code, unit, list(dict.fromkeys(declared)), children)
    text = _declarations(children)
    if children and not re.search(r"^from genesys\.gau import .*UnitDecl", code, re.M):
        code = re.sub(r"^from genesys\.gau import GAUBase$", "from genesys.gau import GAUBase, UnitDecl", code,
                      count=1, flags=re.M)
    return code.rstrip("\n") + "\n\n\n" + text, [Note(unit, "declarations",
                                                       f"CHILDREN_DECLARATIONS written from the tree: {children}")]


def _splice_children(code: str, unit: str, declared: list[str], children: list[str]) -> tuple[str, list[Note]]:
    """Genesys records a replaced child in the tree and leaves the parent's code naming the old unit:
    rename the old names to the tree's, pairing the names that differ in order."""
    old = [c for c in declared if c not in children]
    new = [c for c in children if c not in declared]
    if not old and not new:
        return code, []
    if len(old) != len(new):
        raise ImportBlocked(f"unit {unit}: its code declares {declared}, the tree lists {children}, and the "
                            "difference is not a one-for-one replacement")
    from genesys.agents.unit_source import SourceEditError, rename_units

    module = parse_unit(code, unit)
    used = {n.id for n in ast.walk(module) if isinstance(n, ast.Name)}
    if set(new) <= used and not set(old) & used:  # the code already names the new units: only the list is stale
        decl = next(n for n in module.body if isinstance(n, ast.Assign) and len(n.targets) == 1
                    and isinstance(n.targets[0], ast.Name) and n.targets[0].id == "CHILDREN_DECLARATIONS")
        lines = code.splitlines(keepends=True)
        assert decl.end_lineno is not None
        lines[decl.lineno - 1:decl.end_lineno] = [_declarations(children)]
        return "".join(lines), [Note(unit, "children", f"CHILDREN_DECLARATIONS named {old}; the code and the tree "
                                                       f"use {new}: the list is written from the tree")]
    mapping = dict(zip(old, new, strict=True))
    try:
        code = rename_units(code, mapping)
    except SourceEditError as err:
        raise ImportBlocked(f"unit {unit}: {err}") from None
    pairs = ", ".join(f"{a} -> {b}" for a, b in mapping.items())
    return code, [Note(unit, "children", f"child names spliced from the tree: {pairs}")]


def rewrite_unit(code: str, unit: str, others: dict[str, str], children: list[str]) -> tuple[str, list[Note]]:
    """Every rewrite, in order; raises ImportBlocked naming what no rewrite can fix."""
    notes: list[Note] = []
    from genesys.agents.genesys_import.dependencies import rewrite_dependencies

    for step in (rewrite_imports, rewrite_dependencies, rewrite_call_override, rewrite_first_parameter,
                 rewrite_type_self):
        code, more = step(code, unit)
        notes += more
    code, more = copy_shared_helpers(code, unit, others, set(others))
    notes += more
    code, more = write_declarations(code, unit, children)
    return code, notes + more
