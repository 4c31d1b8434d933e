"""What a unit's AST says, without executing it: attribute chains, bound names, the children
a class instantiates and calls, and its CHILDREN_DECLARATIONS. The `format` check
(genesys.gau.checker.static) judges these facts.
"""

from __future__ import annotations

import ast


def chain(node: ast.AST) -> tuple[ast.AST, list[ast.Attribute]]:
    """`a.b.c` -> (a, [a.b, a.b.c]): the base of an attribute chain and its links, outermost last."""
    attrs: list[ast.Attribute] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node)
        node = node.value
    return node, attrs[::-1]


def bound_names(tree: ast.Module) -> set[str]:
    """Every name the module binds: assignments, definitions, arguments, imports, handlers, patterns."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                names.add(a.asname or a.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


def inner_attributes_and_callees(tree: ast.Module) -> tuple[set[int], set[int]]:
    """ids of attribute nodes that are the base of a longer chain (checked as part of it),
    and of the nodes that are called."""
    inner: set[int] = set()
    called: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            inner.add(id(node.value))
        elif isinstance(node, ast.Call):
            called.add(id(node.func))
    return inner, called


def child_instantiations(cls: ast.ClassDef, declared: set[str]) -> tuple[dict[str, ast.Call], dict[str, str]]:
    """The first call of each declared child in the class, and the attribute of self it is
    first assigned to (`self.attr = Child(...)`)."""
    instantiated: dict[str, ast.Call] = {}
    assigned: dict[str, str] = {}  # child -> attribute on self
    for node in ast.walk(cls):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in declared:
            instantiated.setdefault(node.func.id, node)
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Attribute)
                and isinstance(node.targets[0].value, ast.Name) and node.targets[0].value.id == "self"
                and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
                and node.value.func.id in declared):
            assigned.setdefault(node.value.func.id, node.targets[0].attr)
    return instantiated, assigned


def calls_on_self(methods: dict[str, ast.AST]) -> dict[str, list[ast.Call]]:
    """Calls `self.<attr>(...)` outside __init__, by attribute."""
    calls: dict[str, list[ast.Call]] = {}
    for name, method in methods.items():
        if name == "__init__":
            continue
        for node in ast.walk(method):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "self"):
                calls.setdefault(node.func.attr, []).append(node)
    return calls


def declared_children(tree: ast.Module) -> list[str] | None:
    """The unit names in CHILDREN_DECLARATIONS, or None when the module has none."""
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "CHILDREN_DECLARATIONS"):
            names = []
            for call in getattr(node.value, "elts", []):
                if not isinstance(call, ast.Call):
                    continue
                for kw in call.keywords:
                    if kw.arg == "unitname" and isinstance(kw.value, ast.Constant):
                        names.append(str(kw.value.value))
                if call.args and isinstance(call.args[0], ast.Constant):
                    names.append(str(call.args[0].value))
            return names
    return None
