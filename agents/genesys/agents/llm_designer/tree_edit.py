"""The design under construction, and the flow rules every edit of it must follow.

    work = WorkTree.start("mutation", parents, selection="GatedMLP")
    candidate = work.with_unit("GatedMLP", code)     # raises FlowError, leaves `work` as it was
    work = candidate                                  # only once every check has passed

A mutation or crossover starts from its first parent's tree with one unit to rewrite
(the proposal's selection); every other unit of that parent is protected and cannot be
rewritten. Scratch starts from a root placeholder. Units a new unit declares as children
that the tree does not have become placeholders (identity until written) and join the
queue; the session is done when the queue is empty. Edits are values: a failed candidate
is dropped, which is the rollback.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pydantic import ValidationError

from genesys.agents.llm_designer.context import UnitRef
from genesys.agents.unit_source import SourceEditError, rename_class
from genesys.api import Design, DesignTree, UnitSpec


class FlowError(ValueError):
    """An edit breaks a flow rule; the message names the unit and the rule, and how to comply."""


def unit_class(code: str, where: str) -> str:
    """The one GAUBase subclass `code` defines (FlowError when it defines none or several, or does not parse)."""
    try:
        module = ast.parse(code)
    except SyntaxError as err:
        raise FlowError(f"{where}, line {err.lineno}: syntax error: {err.msg}") from None
    classes = [n.name for n in module.body if isinstance(n, ast.ClassDef)
               and any(getattr(b, "id", None) == "GAUBase" or getattr(b, "attr", None) == "GAUBase" for b in n.bases)]
    if len(classes) != 1:
        found = f"defines {len(classes)} ({', '.join(classes)})" if classes else "defines none"
        raise FlowError(f"{where}: a unit's source defines exactly one GAUBase subclass; it {found}")
    return classes[0]


def declared(code: str, where: str) -> list[str]:
    from genesys.gau.checker.unit_ast import declared_children

    children = declared_children(ast.parse(code))
    if children is None:
        raise FlowError(f"{where}: no CHILDREN_DECLARATIONS; declare the unit's children "
                        "(CHILDREN_DECLARATIONS = [] when it has none)")
    return children


@dataclass(frozen=True)
class WorkTree:
    root: str
    units: dict[str, UnitSpec]
    pending: tuple[str, ...]  # units still to write, in order
    protected: frozenset[str] = frozenset()
    written: tuple[str, ...] = field(default=())  # units this session wrote or reused, in order

    # -- starting points --------------------------------------------------------------------
    @classmethod
    def start(cls, operation: str, parents: Sequence[Design], selection: str) -> WorkTree:
        if operation == "scratch":
            return cls(selection, {selection: UnitSpec()}, (selection,))
        tree = parents[0].spec.tree
        units = {n: tree.units[n] for n in tree.reachable() if n in tree.units}
        return cls(tree.root, units, (selection,), frozenset(units) - {selection})

    # -- reading ------------------------------------------------------------------------------
    def tree(self) -> DesignTree:
        return DesignTree(root=self.root, units=dict(self.units))

    def placeholders(self) -> list[str]:
        """Reachable units without code, in the queue's order."""
        return [n for n in self.pending if not self.units.get(n, UnitSpec()).code.strip()]

    def done(self) -> bool:
        return not self.pending

    # -- edits (each returns a new WorkTree) ----------------------------------------------------
    def with_unit(self, name: str, code: str) -> WorkTree:
        """`name` written as `code`: its class renamed to `name` if the coder called it otherwise, its new
        children added as placeholders, units no longer reachable dropped."""
        where = f"unit {name}"
        if name not in self.pending:
            queue = ", ".join(self.pending) or "nothing"
            raise FlowError(f"{where} is not to be written now; the units still to write are: {queue}")
        if name in self.protected:
            raise FlowError(f"{where} is protected: a mutation rewrites only its selected unit and new ones")
        cls_name = unit_class(code, where)
        if cls_name != name:
            try:
                code = rename_class(code, cls_name, name)
            except SourceEditError as err:
                raise FlowError(f"{where}: the class {cls_name} cannot be renamed to {name}: {err}") from None
        children = declared(code, where)
        for child in children:
            if child in (name, self.root):
                raise FlowError(f"{where} declares {child} as a child: that makes a cycle; a unit cannot contain "
                                "itself or the block")
        units = dict(self.units)
        units[name] = UnitSpec(code=code, children=children)
        new = [c for c in children if c not in units]
        for child in new:
            units[child] = UnitSpec()
        return self._settled(units, name, new)

    def with_reuse(self, name: str, ref: UnitRef, library_units: dict[str, UnitRef]) -> WorkTree:
        """`name` filled with an existing unit's code (renamed to `name`), its missing subtree copied too."""
        where = f"unit {name}"
        if name not in self.pending or name in self.protected:
            raise FlowError(f"{where} cannot be filled now; the units still to write are: {', '.join(self.pending)}")
        try:
            code = rename_class(ref.code, ref.name, name)
        except SourceEditError as err:
            raise FlowError(f"{where}: {ref.key} cannot be renamed to {name}: {err}") from None
        units = dict(self.units)
        units[name] = UnitSpec(code=code, children=list(ref.children))
        stack = [c for c in ref.children if c not in units]
        while stack:
            child = stack.pop()
            if child in units:
                continue
            if ref.source_tree is not None and child in ref.source_tree.units:
                spec = ref.source_tree.units[child]
            elif child in library_units:
                lib = library_units[child]
                spec = UnitSpec(code=lib.code, children=list(lib.children))
            else:
                raise FlowError(f"{where}: {ref.key} has a child {child} whose code is neither in its design "
                                "nor in the unit library")
            units[child] = spec
            stack += [c for c in spec.children if c not in units]
        return self._settled(units, name, [])

    def _settled(self, units: dict[str, UnitSpec], name: str, new: list[str]) -> WorkTree:
        try:
            tree = DesignTree(root=self.root, units=units)
        except ValidationError as err:
            raise FlowError(f"unit {name}: {err.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        reachable = set(tree.reachable())
        kept = {n: s for n, s in units.items() if n in reachable}
        pending = [n for n in self.pending if n != name and n in reachable] + [n for n in new if n in reachable]
        return replace(self, units=kept, pending=tuple(pending), written=(*self.written, name))
