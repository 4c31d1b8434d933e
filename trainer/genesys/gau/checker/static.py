"""The `format` check: reads each unit's code as an AST and never executes it.

Two jobs. Safety: only allow-listed imports, no builtins that reach the interpreter
(`eval`, `open`, `__import__`, ...), no dunder or frame attributes, no paths into
modules such as os or sys (torch re-exports several). Contract: one GAUBase
subclass named like the unit, the contract's signatures, children declared,
instantiated and called as `Y, Z = self.child(X, **Z)`. Messages name unit and line.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import time
import types
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from genesys.api import Design
from genesys.gau.checker.allowlist import (
    ACCESSORS,
    ALLOWED_DUNDER_ATTRS,
    ALLOWED_DUNDER_NAMES,
    FORBIDDEN_ATTRS,
    FORBIDDEN_NAMES,
    FORBIDDEN_TORCH,
    FORBIDDEN_TYPING,
    GAU_NAMES,
    MAX_CODE_CHARS,
    SAFE_MODULES,
)
from genesys.gau.checker.report import CheckResult
from genesys.gau.checker.unit_ast import (
    bound_names,
    calls_on_self,
    chain,
    child_instantiations,
    declared_children,
    function_local_names,
    inner_attributes_and_callees,
)


@dataclass(frozen=True)
class Problem:
    unit: str | None
    line: int | None
    message: str
    severity: str = "fail"  # or "warn"

    def text(self) -> str:
        where = f"unit {self.unit}" if self.unit else "design"
        if self.line:
            where += f", line {self.line}"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "line": self.line, "severity": self.severity, "message": self.message}


def _child_call_form(child: str) -> str:
    return (f"self.<name> = {child}(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all, "
            "**self.factory_kwargs, **kwarg_all)")


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _module_allowed(path: str) -> str | None:
    """None when unit code may import `path`, else the reason it may not."""
    parts = path.split(".")
    if parts[0] in SAFE_MODULES:
        return None if len(parts) == 1 else f"{path} is not an allowed module"
    if parts[0] != "torch":
        return (f"import of {path!r} is not allowed; unit code may import only torch (and its submodules), "
                "math, typing, dataclasses, functools, einops and `from genesys.gau import GAUBase, UnitDecl`")
    return _torch_path_problem(path)


def _torch_path_problem(path: str) -> str | None:
    parts = path.split(".")
    if any(p.startswith("_") and not _is_dunder(p) for p in parts[1:]):
        return f"{path} is private torch API; use the public torch functions"
    for bad in FORBIDDEN_TORCH:
        if path == bad or path.startswith(bad + "."):
            return (f"{path} is not allowed in unit code (file access, native code, processes or compilation); "
                    "a unit computes with tensors only")
    return None


def _resolve_static(root: Any, parts: list[str]) -> tuple[Any, int]:
    """Follow `parts` through real (trusted) modules without triggering lazy imports.

    Returns the last object reached and how many parts were followed; stops at the
    first non-module or missing attribute.
    """
    obj = root
    for i, part in enumerate(parts):
        if not isinstance(obj, types.ModuleType):
            return obj, i
        try:
            obj = inspect.getattr_static(obj, part)
        except AttributeError:
            return None, i
    return obj, len(parts)


def _module_object_problem(obj: Any, path: str) -> str | None:
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
        if name in SAFE_MODULES or (name.split(".")[0] == "torch" and _torch_path_problem(name) is None):
            return None
        return f"{path} is the module {name}, which unit code may not use"
    return None


class UnitAnalyzer:
    """Collects the problems of one unit's code."""

    def __init__(self, unit: str, code: str, children: list[str], tree_units: set[str], library_units: set[str],
                 semantics: str = "genesys-lm"):
        self.unit, self.code, self.children, self.semantics = unit, code, children, semantics
        self.tree_units, self.library_units = tree_units, library_units
        self.problems: list[Problem] = []
        self.aliases: dict[str, str] = {}  # local name -> dotted path of what it was imported as

    def fail(self, node: ast.AST | int | None, message: str, severity: str = "fail") -> None:
        line = node if isinstance(node, int) or node is None else getattr(node, "lineno", None)
        self.problems.append(Problem(self.unit, line, message, severity))

    def run(self) -> list[Problem]:
        if len(self.code) > MAX_CODE_CHARS:
            self.fail(None, f"the code is {len(self.code):,} characters; a unit must stay under {MAX_CODE_CHARS:,}")
            return self.problems
        try:
            tree = ast.parse(self.code, filename=f"<unit {self.unit}>")
        except SyntaxError as err:
            self.fail(err.lineno, f"syntax error: {err.msg}; fix the code so that it parses")
            return self.problems
        except (RecursionError, MemoryError, ValueError) as err:
            self.fail(None, f"the code cannot be parsed ({type(err).__name__}): simplify deeply nested expressions")
            return self.problems
        try:
            self._imports(tree)
            self._safety(tree)
            self._contract(tree)
        except RecursionError:
            self.fail(None, "the code is nested too deeply to analyze; simplify it")
        return self.problems

    # -- safety ---------------------------------------------------------------------------

    def _imports(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                self._import(node)
            elif isinstance(node, ast.ImportFrom):
                self._import_from(node)

    def _import(self, node: ast.Import) -> None:
        for a in node.names:
            reason = _module_allowed(a.name)
            if reason:
                self.fail(node, reason)
                continue
            if a.asname:
                self.aliases[a.asname] = a.name
            else:
                top = a.name.split(".")[0]
                self.aliases[top] = top

    def _import_from(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.fail(node, "relative imports are not allowed; import from torch, math, typing, "
                            "dataclasses, functools or genesys.gau")
            return
        if module == "__future__":
            return
        if module == "genesys.gau":
            self._import_from_gau(node)
            return
        reason = _module_allowed(module)
        if reason:
            self.fail(node, reason)
            return
        for a in node.names:
            if a.name == "*":
                self.fail(node, f"`from {module} import *` is not allowed; import the names you use")
                continue
            path = f"{module}.{a.name}"
            reason = self._path_problem(path)
            if reason:
                self.fail(node, reason)
            else:
                self.aliases[a.asname or a.name] = path

    def _import_from_gau(self, node: ast.ImportFrom) -> None:
        for a in node.names:
            if a.name not in GAU_NAMES:
                self.fail(node, f"from genesys.gau only GAUBase and UnitDecl may be imported, not "
                                f"{a.name}; child units are injected by name, do not import them")
            else:
                self.aliases[a.asname or a.name] = f"genesys.gau.{a.name}"

    def _path_problem(self, path: str) -> str | None:
        """Why a dotted path rooted at an allowed module is forbidden (None if fine)."""
        parts = path.split(".")
        top = parts[0]
        if top == "genesys":
            return None
        if any(p in FORBIDDEN_ATTRS for p in parts[1:]):
            bad = next(p for p in parts[1:] if p in FORBIDDEN_ATTRS)
            return f"{path}: `{bad}` is not allowed in unit code"
        if top == "torch":
            reason = _torch_path_problem(path)
            if reason:
                return reason
            obj, _ = _resolve_static(torch, parts[1:])
            return _module_object_problem(obj, path)
        if top in SAFE_MODULES:
            if any(p.startswith("_") for p in parts[1:]):
                return f"{path} is private; use public names"
            if any(p in FORBIDDEN_TYPING for p in parts[1:]):
                return f"{path} evaluates strings as code and is not allowed"
            obj, _ = _resolve_static(SAFE_MODULES[top], parts[1:])
            return _module_object_problem(obj, path)
        return None

    def _safety(self, tree: ast.Module) -> None:
        inner, called = inner_attributes_and_callees(tree)
        local = function_local_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                self._name(node, id(node) in local)
                if node.id in ACCESSORS and id(node) not in called:
                    self.fail(node, f"`{node.id}` may only be called directly, with a literal attribute name")
            elif isinstance(node, ast.Attribute) and id(node) not in inner:
                self._attribute_chain(node)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ACCESSORS:
                self._accessor(node)
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                self._assignment(node)

    def _assignment(self, node: ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete) -> None:
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for target in targets:
            for t in ast.walk(target):
                if isinstance(t, ast.Attribute) and isinstance(t.ctx, (ast.Store, ast.Del)):
                    self._attribute_write(t)

    def _name(self, node: ast.Name, local: bool) -> None:
        # An argument or local variable named like a builtin (`def f(self, input)`) is not the builtin.
        if node.id in FORBIDDEN_NAMES and not (local and not _is_dunder(node.id)):
            self.fail(node, f"`{node.id}` is not allowed in unit code (it reaches the interpreter or the file "
                            "system); a unit computes with tensors only")
        elif _is_dunder(node.id) and node.id not in ALLOWED_DUNDER_NAMES:
            self.fail(node, f"`{node.id}` is not allowed in unit code")

    def _attribute_chain(self, node: ast.Attribute) -> None:
        root, attrs = chain(node)
        root_name = root.id if isinstance(root, ast.Name) else None
        for a in attrs:
            name = a.attr
            if _is_dunder(name):
                if name not in ALLOWED_DUNDER_ATTRS:
                    self.fail(a, f"attribute `{name}` is not allowed in unit code (dunder attributes reach the "
                                 "interpreter's internals)")
                    return
            elif name in FORBIDDEN_ATTRS:
                self.fail(a, f"attribute `{name}` is not allowed in unit code (files, processes, modules, frames "
                             "or global torch state); a unit computes with tensors only")
                return
            elif name.startswith("_") and (root_name is None or root_name in self.aliases):
                self.fail(a, f"private attribute `{name}` of a module or an expression; use public APIs")
                return
        if root_name in self.aliases:
            path = ".".join([self.aliases[root_name]] + [a.attr for a in attrs])
            reason = self._path_problem(path)
            if reason:
                self.fail(node, reason)

    def _accessor(self, node: ast.Call) -> None:
        fn = node.func.id  # type: ignore[union-attr]
        if len(node.args) < 2 or not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            self.fail(node, f"{fn}() needs a literal attribute name; for dynamic collections of layers use "
                            "nn.ModuleList or nn.ModuleDict")
            return
        name = node.args[1].value
        root, _ = chain(node.args[0])
        root_name = root.id if isinstance(root, ast.Name) else None
        private = name.startswith("_") and (root_name is None or root_name in self.aliases)
        if _is_dunder(name) or name in FORBIDDEN_ATTRS or private:
            self.fail(node, f"{fn}(..., {name!r}) is not allowed in unit code")
        elif fn in ("setattr", "delattr") and (root_name in self.aliases or root_name is None):
            self.fail(node, f"{fn}() may only change attributes of self, never of torch or library objects")

    def _attribute_write(self, node: ast.Attribute) -> None:
        root, attrs = chain(node)
        root_name = root.id if isinstance(root, ast.Name) else None
        if node.attr in ("forward", "_forward"):
            self.fail(node, f"assigning `{node.attr}` is not allowed; define _forward as a method")
        elif root_name in self.aliases or (root_name is not None and root_name in dir(builtins)):
            self.fail(node, f"unit code may not modify {root_name}.{'.'.join(a.attr for a in attrs)}: never "
                            "patch torch, the library or builtins; keep state on self")

    # -- contract -------------------------------------------------------------------------

    def _resolve_base(self, base: ast.AST, local: dict[str, str]) -> str:
        """Kind of a class base: 'gau', 'module', 'local-gau', 'other' or 'unknown'."""
        root, attrs = chain(base)
        if not isinstance(root, ast.Name):
            return "unknown"
        if not attrs and root.id in local:
            return local[root.id]
        if not attrs and root.id in dir(builtins):
            return "other"
        if root.id not in self.aliases:
            return "unknown"
        path = ".".join([self.aliases[root.id]] + [a.attr for a in attrs])
        if path == "genesys.gau.GAUBase":
            return "gau"
        parts = path.split(".")
        if parts[0] == "torch":
            obj, n = _resolve_static(torch, parts[1:])
            if n == len(parts) - 1 and isinstance(obj, type):
                if issubclass(obj, nn.Module):
                    return "module"
                return "function" if issubclass(obj, torch.autograd.Function) else "other"
        if parts[0] in SAFE_MODULES:
            return "other"
        return "unknown"

    def _contract(self, tree: ast.Module) -> None:
        gau_classes = self._gau_classes(tree)
        if not gau_classes:
            self.fail(None, f"the code defines no GAUBase subclass; define `class {self.unit}(GAUBase)`")
            return
        if len(gau_classes) > 1:
            names = ", ".join(c.name for c in gau_classes)
            self.fail(gau_classes[1], f"the code defines {len(gau_classes)} GAUBase subclasses ({names}); a unit has "
                                      f"exactly one, {self.unit}: move the others into child units")
        cls = next((c for c in gau_classes if c.name == self.unit), None)
        if cls is None:
            self.fail(gau_classes[0], f"the GAUBase subclass is named {gau_classes[0].name}; rename it to {self.unit}, "
                                      "the unit's name in the tree")
            return
        if cls not in tree.body:
            self.fail(cls, f"class {self.unit} must be defined at the top level of the code")
        methods = {n.name: n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        if "forward" in methods:
            self.fail(methods["forward"], "do not override forward(); implement _forward(self, X, **Z) instead")
        self._init_signature(cls, methods.get("__init__"))
        self._forward_signature(cls, methods.get("_forward"))
        self._children(tree, cls, methods)

    def _gau_classes(self, tree: ast.Module) -> list[ast.ClassDef]:
        """The GAUBase subclasses of the code, directly or through a class of the file; reports
        classes of any other kind that a unit may not define."""
        local: dict[str, str] = {}  # class name -> kind
        gau_classes: list[ast.ClassDef] = []
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            kinds = [self._resolve_base(b, local) for b in node.bases]
            if node.keywords:
                self.fail(node, f"class {node.name}: class keywords (metaclass=...) are not allowed")
            if "unknown" in kinds:
                self.fail(node, f"class {node.name}: its bases must be GAUBase, a torch class or a class of this "
                                "file, written as plain names")
            if "gau" in kinds or "local-gau" in kinds:
                local[node.name] = "local-gau"
                gau_classes.append(node)
            elif "function" in kinds:
                local[node.name] = "other"
                self.fail(node, f"class {node.name} is a custom autograd Function; write the computation with "
                                "differentiable torch operations (the checks rely on autograd's gradients)")
            elif "module" in kinds:
                local[node.name] = "module"
                if self.semantics == "genesys":  # Genesys keeps helper modules beside its units
                    self.fail(node, f"class {node.name} is a helper nn.Module: under Genesys semantics its "
                                    f"parameters count as the unit {self.unit}'s", severity="warn")
                else:
                    self.fail(node, f"class {node.name} subclasses nn.Module; a unit file holds exactly one module "
                                    f"class, the unit {self.unit}: build layers from torch.nn inside it, or make the "
                                    "part a child unit of its own")
            else:
                local[node.name] = "other"
        return gau_classes

    def _init_signature(self, cls: ast.ClassDef, init: ast.AST | None) -> None:
        want = "__init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, <hyper-parameters>, **kwargs)"
        if init is None:
            self.fail(cls, f"class {self.unit} has no __init__; define {want}")
            return
        args = init.args  # type: ignore[attr-defined]
        names = [a.arg for a in args.posonlyargs + args.args]
        if names[:4] != ["self", "embed_dim", "block_loc", "kwarg_all"]:
            got = ", ".join(names[:4])
            self.fail(init, f"__init__ must start with (self, embed_dim, block_loc, kwarg_all), got ({got}); "
                            f"define {want}")
        if args.kwarg is None:
            self.fail(init, "__init__ must accept **kwargs: parents pass every hyper-parameter of the tree; "
                            f"define {want}")
        calls_super = False
        for node in ast.walk(init):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__":
                target = node.func.value
                is_super = (isinstance(target, ast.Call) and isinstance(target.func, ast.Name)
                            and target.func.id == "super")
                if is_super or (isinstance(target, ast.Name) and target.id == "GAUBase"):
                    calls_super = True
        if not calls_super:
            self.fail(init, "__init__ must call super().__init__(embed_dim, block_loc, kwarg_all) before creating "
                            "layers")

    def _forward_signature(self, cls: ast.ClassDef, fwd: ast.AST | None) -> None:
        if fwd is None:
            self.fail(cls, f"class {self.unit} has no _forward; define `def _forward(self, X, **Z)` returning Y "
                           "(same shape as X) or (Y, dict_of_Z_updates)")
            return
        args = fwd.args  # type: ignore[attr-defined]
        names = [a.arg for a in args.posonlyargs + args.args]
        if names[:2] != ["self", "X"]:
            self.fail(fwd, "_forward must be `def _forward(self, X, **Z)` (or name the side inputs it reads as "
                           f"keyword parameters after X), got ({', '.join(names)})")

    def _children(self, tree: ast.Module, cls: ast.ClassDef, methods: dict[str, ast.AST]) -> None:
        declared = set(self.children)
        self._undefined_names(tree, declared)
        instantiated, assigned = child_instantiations(cls, declared)
        calls = calls_on_self(methods)
        init = methods.get("__init__")
        for child in self.children:
            call = instantiated.get(child)
            if call is None:
                self.fail(init or cls, f"declared child {child} is never instantiated; in __init__ write "
                                       f"{_child_call_form(child)}, or remove {child} from the children")
                continue
            self._child_instantiation(child, call)
            attr = assigned.get(child)
            if attr is not None:  # None e.g. inside an nn.ModuleList: called through a loop variable
                self._child_calls(child, call, attr, calls.get(attr, []))
        self._children_declarations(tree, declared)

    def _undefined_names(self, tree: ast.Module, declared: set[str]) -> None:
        """Children named in the code but not in the tree: NameErrors at build time."""
        bound = bound_names(tree) | set(dir(builtins)) | {"__name__", "__doc__", "__file__"}
        reported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound | declared:
                if node.id in reported:
                    continue
                reported.add(node.id)
                if node.id in self.tree_units or node.id in self.library_units:
                    self.fail(node, f"uses the unit {node.id}, which is not one of its declared children: add "
                                    f"{node.id} to the tree's children of {self.unit} (and to CHILDREN_DECLARATIONS)")
                else:
                    self.fail(node, f"undefined name {node.id!r}; define or import it (child units must be "
                                    "declared in the tree's children list)")

    def _child_instantiation(self, child: str, call: ast.Call) -> None:
        contract = ["embed_dim", "block_loc", "kwarg_all"]
        given = {k.arg for k in call.keywords if k.arg} | set(contract[: len(call.args)])
        if set(contract) - given:
            missing = ", ".join(sorted(set(contract) - given))
            self.fail(call, f"instantiate {child} with {missing}: {_child_call_form(child)}")
        elif not any(k.arg is None for k in call.keywords):
            self.fail(call, f"pass **kwarg_all when instantiating {child} so its hyper-parameters reach it: "
                            f"{_child_call_form(child)}", severity="warn")

    def _child_calls(self, child: str, call: ast.Call, attr: str, uses: list[ast.Call]) -> None:
        if not uses:
            self.fail(call, f"child {child} (self.{attr}) is never called; call it in _forward as "
                            f"`Y, Z = self.{attr}(X, **Z)`, or remove it")
        elif not any(any(k.arg is None for k in u.keywords) for u in uses):
            if self.semantics == "genesys":  # Genesys passes a child's inputs by name; Z is filtered anyway
                self.fail(uses[0], f"the child {child} is called without **Z: under Genesys semantics it sees "
                                   "only what the call passes", severity="warn")
                return
            self.fail(uses[0], f"call the child {child} as `Y, Z = self.{attr}(X, **Z)` so side inputs (Z) "
                               "flow through it")

    def _children_declarations(self, tree: ast.Module, declared: set[str]) -> None:
        decls = declared_children(tree)
        if decls is None:
            self.fail(None, "no CHILDREN_DECLARATIONS at module level; add `CHILDREN_DECLARATIONS = [...]` "
                            "(a list of UnitDecl, [] if none)", severity="warn")
        elif set(decls) != declared:
            self.fail(None, f"CHILDREN_DECLARATIONS lists {sorted(decls)} but the tree's children are "
                            f"{sorted(declared)}; keep them the same", severity="warn")


def design_problems(design: Design) -> list[Problem]:
    """Every problem the static check finds in `design`, fail and warn."""
    from genesys.gau.library import library

    tree = design.spec.tree
    problems: list[Problem] = []
    try:
        library_units = set(library())
    except Exception:  # a broken library file must not break checking designs
        library_units = set()
    reachable = tree.reachable()
    for name in sorted(set(tree.units) - set(reachable)):
        problems.append(Problem(name, None, f"unit {name} is not reachable from the root {tree.root}; "
                                            "remove it or list it as a child", "warn"))
    for name in reachable:
        spec = tree.units.get(name)
        if spec is None or not spec.code.strip():
            severity = "fail" if name == tree.root else "warn"
            problems.append(Problem(name, None, "has no code yet: it runs as an identity placeholder; implement it",
                                    severity))
            continue
        problems += UnitAnalyzer(name, spec.code, list(spec.children), set(tree.units), library_units,
                                 design.spec.semantics).run()
    return problems


def check_format(design: Design) -> CheckResult:
    """The `format` check. Never executes the design's code and never raises."""
    start = time.perf_counter()
    try:
        problems = design_problems(design)
    except Exception as err:  # the analyzer must not crash on hostile input: fail closed
        problems = [Problem(None, None, f"the static analysis could not read the design ({type(err).__name__}: {err})")]
    fails = [p for p in problems if p.severity == "fail"]
    warns = [p for p in problems if p.severity == "warn"]
    shown = (fails or warns)[:12]
    if fails:
        status, head = "fail", f"{len(fails)} problem(s) in the code; fix them and check again"
    elif warns:
        status, head = "warn", f"{len(warns)} warning(s)"
    else:
        status, head = "pass", f"{len(design.spec.tree.reachable())} unit(s) follow the contract and the allow-list"
    lines = [head] + [f"- {p.text()}" for p in shown]
    if len(fails or warns) > len(shown):
        lines.append(f"- ... and {len(fails or warns) - len(shown)} more")
    first = shown[0] if shown else None
    return CheckResult(
        name="format",
        status=status,
        message="\n".join(lines),
        seconds=time.perf_counter() - start,
        details={"problems": [p.to_dict() for p in problems]},
        unit=first.unit if first else None,
        line=first.line if first else None,
    )
