"""Surgery on unit source code, by its syntax tree: renaming child units, reading signatures.

A parent unit instantiates its children by bare class name (`MultiHeadAttention(...)`),
so swapping a child means renaming that identifier, and only that identifier: never
inside strings, attributes (`nn.LayerNorm`) or longer names. Edits are made at the
positions the AST reports, so the rest of the code keeps its formatting.

    code = rename_units(code, {"MultiHeadAttention": "GroupedQueryAttention"})
"""

from __future__ import annotations

import ast
import operator
import re
from functools import lru_cache
from typing import Any


class SourceEditError(ValueError):
    """A rename cannot be done safely (the new name is already taken in the code)."""


def _identifiers(tree: ast.AST) -> set[str]:
    """Every name the code binds or reads: variables, imports, defs, classes, arguments."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _declared_unitname_nodes(tree: ast.Module) -> list[ast.Constant]:
    """The `unitname` string constants of CHILDREN_DECLARATIONS (keyword or first argument)."""
    found: list[ast.Constant] = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "CHILDREN_DECLARATIONS"):
            continue
        for call in getattr(node.value, "elts", []):
            if not isinstance(call, ast.Call):
                continue
            if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
                found.append(call.args[0])
            for kw in call.keywords:
                if kw.arg == "unitname" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    found.append(kw.value)
    return found


def _columns(node: ast.expr) -> tuple[int, int, int]:
    """(line, start byte, end byte) of a node that sits on one line."""
    assert node.end_col_offset is not None
    return node.lineno, node.col_offset, node.end_col_offset


def rename_units(code: str, mapping: dict[str, str]) -> str:
    """Rename whole identifiers `old -> new` at once (swaps allowed), plus the matching
    `unitname` entries of CHILDREN_DECLARATIONS. Raises SourceEditError if a new name
    is already used in the code for something that is not being renamed."""
    mapping = {old: new for old, new in mapping.items() if old != new}
    if not mapping:
        return code
    tree = ast.parse(code)
    taken = _identifiers(tree) - set(mapping)
    clash = sorted(set(mapping.values()) & taken)
    if clash:
        raise SourceEditError(f"cannot rename to {', '.join(clash)}: the name is already used in the code")
    edits: list[tuple[int, int, int, str | None]] = []  # (line, start byte, end byte, new text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in mapping:
            edits.append((*_columns(node), mapping[node.id]))
    for node in _declared_unitname_nodes(tree):
        if node.value in mapping and node.lineno == node.end_lineno:
            edits.append((*_columns(node), None))
    lines = code.splitlines(keepends=True)
    # AST offsets count UTF-8 bytes; edit each line as bytes, right to left.
    for lineno, start, end, text in sorted(edits, key=lambda e: e[:3], reverse=True):
        raw = lines[lineno - 1].encode("utf-8")
        if text is None:  # a unitname string: keep its quotes
            literal = raw[start:end].decode("utf-8")
            quote = literal[0] if literal[0] in "'\"" else '"'
            text = quote + mapping[ast.literal_eval(literal)] + quote
        lines[lineno - 1] = (raw[:start] + text.encode("utf-8") + raw[end:]).decode("utf-8")
    out = "".join(lines)
    left = {n.id for n in ast.walk(ast.parse(out)) if isinstance(n, ast.Name)} & set(mapping)
    assert not left - set(mapping.values()), f"rename left {left} in the code"
    return out


def rename_class(code: str, old: str, new: str) -> str:
    """`code` with the class `old` it defines named `new`, and every reference to it renamed too
    (rename_units). Raises SourceEditError when `new` is taken or `old` is not defined there."""
    if old == new:
        return code
    code = rename_units(code, {old: new})
    for node in ast.parse(code).body:
        if isinstance(node, ast.ClassDef) and node.name == old:
            lines = code.splitlines(keepends=True)
            lines[node.lineno - 1] = re.sub(rf"\bclass\s+{old}\b", f"class {new}", lines[node.lineno - 1], count=1)
            return "".join(lines)
    raise SourceEditError(f"the code defines no class {old}")


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _constant(node: ast.expr) -> Any:
    """The value of a literal default (`64`, `8 / 3`, `-1.0`, `True`), or raise ValueError."""
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_constant(node.left), _constant(node.right))
    return ast.literal_eval(node)


@lru_cache(maxsize=512)
def _init_defaults(code: str, unit: str) -> tuple[tuple[str, Any], ...]:
    return tuple(_read_init_defaults(code, unit).items())


def init_defaults(code: str, unit: str) -> dict[str, Any]:
    """Hyper-parameters of `unit.__init__` after (self, embed_dim, block_loc, kwarg_all)
    and their literal defaults (parameters without a literal default are left out)."""
    return dict(_init_defaults(code, unit))


def _read_init_defaults(code: str, unit: str) -> dict[str, Any]:
    tree = ast.parse(code)
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef) and cls.name == unit:
            for fn in cls.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == "__init__":
                    args = fn.args
                    positional = args.posonlyargs + args.args
                    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True))
                    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
                    out: dict[str, Any] = {}
                    for arg, default in pairs:
                        try:
                            out[arg.arg] = _constant(default)
                        except (ValueError, TypeError, ZeroDivisionError, SyntaxError):
                            continue
                    return out
    return {}


def same_value(a: Any, b: Any) -> bool:
    """Equal hyper-parameter values, with floats compared to 3 significant digits
    (search spaces write 2.667 for a default of 8 / 3)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-3 * max(abs(a), abs(b), 1e-12)
    return a == b


def z_keys(code: str) -> set[str]:
    """String keys the code reads or writes in Z-like dicts: `Z["q"]`, `Z.get("attn_bias")`,
    `{"attn_bias": ...}`. Used to tell whether a parent consumes what a position unit writes."""
    keys: set[object] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            keys.add(node.slice.value)
        elif isinstance(node, ast.Dict):
            keys.update(k.value for k in node.keys if isinstance(k, ast.Constant))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and node.args and isinstance(node.args[0], ast.Constant)):
            keys.add(node.args[0].value)
    return {k for k in keys if isinstance(k, str)}


def written_z_keys(code: str) -> set[str]:
    """Keys of the dict literals a unit returns (`return X, {"attn_bias": ...}`)."""
    keys: set[object] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            for elt in node.value.elts:
                if isinstance(elt, ast.Dict):
                    keys.update(k.value for k in elt.keys if isinstance(k, ast.Constant))
        elif (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript)
              and isinstance(node.targets[0].slice, ast.Constant)):
            keys.add(node.targets[0].slice.value)
    return {k for k in keys if isinstance(k, str)}


def normalised_code(code: str) -> str:
    """The code's syntax tree without docstrings, as text: equal for code that differs only
    in whitespace, comments or documentation."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


@lru_cache(maxsize=1024)  # GP trees share most of their units' code: canonicalise each once
def canonical_code(code: str, unit: str, children: tuple[str, ...], keep_attrs: tuple[str, ...] = ()) -> str:
    """`normalised_code` with the names a reader may choose freely replaced by placeholders:
    the class name, the child unit names (in the order given), attributes set on `self`
    (except `keep_attrs`, whose names mean something) and local variables. Two blocks that
    wire the same children the same way (GPT2Block, RetNetBlock) are then equal; a
    different function or constant is not."""
    tree = ast.parse(code)
    # Declarations are documentation for agents: they do not change what the unit computes.
    tree.body = [n for n in tree.body if not (isinstance(n, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id in ("CHILDREN_DECLARATIONS", "UNIT_INFO") for t in n.targets))]
    names = {unit: "Unit", **{c: f"Child{i}" for i, c in enumerate(children)}}
    own_attrs: dict[str, str] = {}
    local: dict[str, str] = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name) and node.value.id == "self" and node.attr not in keep_attrs):
            own_attrs.setdefault(node.attr, f"attr{len(own_attrs)}")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in names:
            local.setdefault(node.id, f"var{len(local)}")
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in names:
            node.name = names[node.name]
        elif isinstance(node, ast.Name):
            node.id = names.get(node.id, local.get(node.id, node.id))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            node.attr = own_attrs.get(node.attr, node.attr)
    return normalised_code(ast.unparse(tree))
