"""What a unit's AST says, without executing it: attribute chains, bound names, the children
a class instantiates and calls, and its CHILDREN_DECLARATIONS. The `format` check
(genesys.gau.checker.static) judges these facts.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence


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


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _scope_bindings(body: Sequence[ast.AST]) -> set[str]:
    """Names a function body binds in its own scope (nested scopes excluded, their names included),
    minus those it declares global or nonlocal."""
    bound: set[str] = set()
    declared: set[str] = set()
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            continue  # its decorators and defaults cannot bind names worth tracking here
        if isinstance(node, _SCOPES):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
        stack.extend(ast.iter_child_nodes(node))
    return bound - declared


def _arg_names(args: ast.arguments) -> set[str]:
    every = args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]
    return {a.arg for a in every}


def function_local_names(tree: ast.Module) -> set[int]:
    """ids of the Name nodes that resolve to a binding of an enclosing function, lambda or
    comprehension (an argument or a local variable), so never to a builtin of the same name:
    in `def f(self, input): return input * 2`, `input` is the argument, not the builtin."""
    resolver = _LocalNames()
    resolver.visit(tree, [])
    return resolver.found


class _LocalNames:
    """Walks the scopes of a module, recording the Name nodes bound by an enclosing function."""

    def __init__(self) -> None:
        self.found: set[int] = set()

    def visit(self, node: ast.AST, scopes: list[set[str]]) -> None:
        if isinstance(node, ast.Name):
            if any(node.id in scope for scope in scopes):
                self.found.add(id(node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            self._function(node, scopes)
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            self._comprehension(node, scopes)
        else:
            for child in ast.iter_child_nodes(node):
                self.visit(child, scopes)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, scopes: list[set[str]]) -> None:
        args = node.args
        # Decorators, defaults and annotations are evaluated in the enclosing scope.
        outer: list[ast.AST] = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
        if not isinstance(node, ast.Lambda):
            every = args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]
            outer += [*node.decorator_list, *([node.returns] if node.returns else []),
                      *(a.annotation for a in every if a.annotation is not None)]
        for child in outer:
            self.visit(child, scopes)
        body: list[ast.AST] = list(node.body) if isinstance(node.body, list) else [node.body]
        inner = [*scopes, _arg_names(args) | _scope_bindings(body)]
        for child in body:
            self.visit(child, inner)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp,
                       scopes: list[set[str]]) -> None:
        targets = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        inner = [*scopes, targets]
        self.visit(node.generators[0].iter, scopes)  # the first iterable is evaluated outside
        for i, g in enumerate(node.generators):
            for part in [g.target, *([g.iter] if i else []), *g.ifs]:
                self.visit(part, inner)
        for part in ((node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,)):
            self.visit(part, inner)
