"""The unit grammar: roles of units, slots of a parent, and grafting one subtree for another.

A tree is a block whose children fill role slots (token mixer, channel mixer, norm,
...), recursively. Every GP operator is a `graft`: some unit is replaced by a subtree
of the same role, the parents' code is renamed to the new class name, and units no
longer reachable are dropped. Roles come from the unit library, by class name; units
outside the library (written by an LLM) keep their place and are never replaced.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pydantic import ValidationError

from genesys.agents.unit_source import SourceEditError, rename_units, written_z_keys, z_keys
from genesys.api import DesignTree, UnitSpec
from genesys.gau.library import UnitInfo, library
from genesys.gau.seeds import tree_from_library

Units = dict[str, UnitSpec]


class GraftError(ValueError):
    """This change cannot be made to this tree; the operator tries another one."""


@dataclass(frozen=True)
class Subtree:
    """A unit and every unit under it, ready to be grafted."""

    root: str
    units: dict[str, UnitSpec]


def role_of(name: str) -> str | None:
    unit = library().get(name)
    return unit.role if unit else None


def is_wrapper(unit: UnitInfo) -> bool:
    """A unit with a child slot of its own role (e.g. a conv in front of any token mixer)."""
    return any(role_of(child) == unit.role for child in unit.children)


def candidates(role: str, wrappers: bool = False) -> list[UnitInfo]:
    """Library units that can fill a slot of `role`, in library order."""
    return [u for u in library().values() if u.role == role and (wrappers or not is_wrapper(u))]


def subtree(units: Units, root: str) -> Subtree:
    """`root` and everything reachable from it in `units` (declared-only children skipped)."""
    picked: dict[str, UnitSpec] = {}
    pending = [root]
    while pending:
        name = pending.pop()
        if name in picked or name not in units:
            continue
        picked[name] = units[name]
        pending.extend(units[name].children)
    return Subtree(root, picked)


def library_subtree(name: str) -> Subtree:
    """A library unit with the children its file declares, recursively, with default args."""
    return Subtree(name, dict(tree_from_library(name).units))


def parents_of(units: Units, name: str) -> list[str]:
    return [p for p, spec in units.items() if name in spec.children]


def position_fits(parent_code: str, position_code: str) -> bool:
    """A position unit fits a parent that reads every Z key it writes: ALiBi's attn_bias
    means nothing to a mixer that never looks at a bias (TTT, retention)."""
    return written_z_keys(position_code) <= z_keys(parent_code)


def fill_slots(name: str, spec: UnitSpec, own: Units, keepers: list[str], keeper_units: Units) -> Subtree:
    """Unit `name` (code `spec`) whose child slots are filled, role by role, by `keepers`
    (units of another tree, with their subtrees from `keeper_units`) where one of the
    same role is free, else by the unit's own children (subtrees from `own`)."""
    free = list(keepers)
    mapping: dict[str, str] = {}
    units: dict[str, UnitSpec] = {}
    for child in spec.children:
        role = role_of(child)
        keeper = next((k for k in free if role is not None and role_of(k) == role), None)
        if keeper is not None and role == "position" and not position_fits(spec.code, keeper_units[keeper].code):
            keeper = None
        if keeper is not None:
            free.remove(keeper)
            mapping[child] = keeper
            _merge(units, subtree(keeper_units, keeper).units)
        else:
            _merge(units, subtree(own, child).units)
    children = [mapping.get(c, c) for c in spec.children]
    if len(set(children)) != len(children):
        raise GraftError(f"filling the slots of {name} would list a child twice: {children}")
    try:
        code = rename_units(spec.code, mapping)
    except SourceEditError as err:
        raise GraftError(f"{name}: {err}") from None
    _merge(units, {name: spec.model_copy(update={"children": children, "code": code})})
    return Subtree(name, units)


def _merge(into: dict[str, UnitSpec], units: Units) -> None:
    for name, spec in units.items():
        if name in into and into[name] != spec:
            raise GraftError(f"two different units named {name} would meet in one tree")
        into[name] = spec


def graft(tree: DesignTree, target: str, incoming: Subtree) -> DesignTree:
    """`tree` with unit `target` replaced by `incoming`: parents of `target` are renamed to
    the incoming root, incoming units join the tree, unreachable units are dropped.
    Raises GraftError when a name clash, a cycle or a misplaced position unit would result."""
    new = incoming.root
    units = dict(tree.units)
    # A unit already in the tree under an incoming name must be the same unit, unless only
    # the replaced subtree used it.
    kept = _reachable(units, tree.root, skip=target)
    for name, spec in incoming.units.items():
        if name in kept and units[name] != spec:
            raise GraftError(f"the tree already has a different unit named {name}")
    for parent in parents_of(units, target):
        spec = units[parent]
        if new != target and new in spec.children:
            raise GraftError(f"{parent} already has a child {new}")
        if role_of(new) == "position" and not position_fits(spec.code, incoming.units[new].code):
            raise GraftError(f"{parent} does not read the Z keys position unit {new} writes")
        try:
            code = rename_units(spec.code, {target: new})
        except SourceEditError as err:
            raise GraftError(f"{parent}: {err}") from None
        units[parent] = spec.model_copy(update={"code": code, "children": [new if c == target else c
                                                                         for c in spec.children]})
    root = new if tree.root == target else tree.root
    units.update(incoming.units)
    return make_tree(root, units)


def make_tree(root: str, units: Units) -> DesignTree:
    """A valid DesignTree of the units reachable from `root`, listed root first, depth first."""
    order: list[str] = []
    pending = [root]
    while pending:
        name = pending.pop()
        if name in order or name not in units:
            continue
        order.append(name)
        pending.extend(reversed(units[name].children))
    try:
        tree = DesignTree(root=root, units={n: units[n] for n in order})
    except ValidationError as err:
        raise GraftError(f"the tree would be invalid: {err.errors()[0]['msg']}") from None
    _check_mixer_only_blocks(tree)
    return tree


def innermost(units: Units, name: str) -> str:
    """The unit a chain of wrappers (conv, gate, ...) finally wraps."""
    while name in units and name in library() and is_wrapper(library()[name]):
        inner = [c for c in units[name].children if role_of(c) == role_of(name)]
        if len(inner) != 1:
            break
        name = inner[0]
    return name


def _check_mixer_only_blocks(tree: DesignTree) -> None:
    """A block without a channel-mixer slot (Mamba2Block) keeps the token mixer it declares.

    Such a block drops the MLP because its own mixer carries a gated channel expansion;
    other mixers there leave the block without channel capacity. The quick checker
    fails 3 of the 7 other library mixers there (MultiScaleRetention: exploding
    gradients; GatedLinearAttention, RWKV6TimeMix: ~4x memory), while each of them
    passes in a block with an MLP (benchmarks/gp_designer_pass_rate.py).
    """
    for name, spec in tree.units.items():
        unit = library().get(name)
        if unit is None or unit.role != "block":
            continue
        declared = {role_of(c): c for c in unit.children}
        if "channel_mixer" in declared or "token_mixer" not in declared:
            continue
        for child in spec.children:
            if role_of(child) == "token_mixer" and innermost(tree.units, child) != declared["token_mixer"]:
                raise GraftError(f"{name} has no channel mixer: its token mixer stays {declared['token_mixer']}, "
                                 f"not {child}")


def _reachable(units: Units, root: str, skip: str | None = None) -> set[str]:
    seen: set[str] = set()
    pending = [root]
    while pending:
        name = pending.pop()
        if name in seen or name == skip or name not in units:
            continue
        seen.add(name)
        pending.extend(units[name].children)
    return seen


def random_subtree(role: str, rng: random.Random, parent_code: str = "",
                   wrapper_probability: float = 0.0) -> Subtree:
    """A random library unit for a slot of `role`, its own slots filled at random too.
    With `wrapper_probability` the unit is a wrapper (whose inner slot gets a plain unit)."""
    pool = candidates(role)
    wrappers = [u for u in candidates(role, wrappers=True) if is_wrapper(u)]
    if wrappers and rng.random() < wrapper_probability:
        pool = wrappers
    if role == "position" and parent_code:
        pool = [u for u in pool if position_fits(parent_code, u.source)]
    if not pool:
        raise GraftError(f"no library unit fits a {role} slot here")
    unit = rng.choice(pool)
    own = library_subtree(unit.name)
    keepers: list[str] = []
    keeper_units: dict[str, UnitSpec] = {}
    for child in unit.children:
        child_role = role_of(child)
        if child_role is None:
            continue
        inner = 0.0 if child_role == role else wrapper_probability
        pick = random_subtree(child_role, rng, parent_code=unit.source, wrapper_probability=inner)
        keepers.append(pick.root)
        _merge(keeper_units, pick.units)
    return fill_slots(unit.name, own.units[unit.name], own.units, keepers, keeper_units)
