"""The GP operators: mutation, crossover and scratch over unit trees (DESIGN.md section 1.3).

Each takes parents (Designs) and a `random.Random`, and returns a new Design with
spec.operation, spec.parents and a proposal saying what changed. Same rng state,
same product. Changes follow the unit grammar: only same-role replacements, so the
unit contract holds by construction; the symbolic checker still has the last word.

    child = mutate(seed_design("gpt2"), "gpt2-m1", random.Random(0))
    child = crossover([a, b], "ab-x1", rng);  child = scratch("s1", rng)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from genesys.agents.fingerprint import inherited, tree_fingerprint
from genesys.agents.gp.grammar import (
    GraftError,
    Subtree,
    candidates,
    fill_slots,
    graft,
    is_wrapper,
    library_subtree,
    make_tree,
    parents_of,
    random_subtree,
    role_of,
    subtree,
)
from genesys.agents.gp.proposal import Change, compact, describe
from genesys.agents.unit_source import init_defaults, same_value
from genesys.api import Design, DesignSpec, DesignTree, ObjectMeta
from genesys.api.vocabulary import check_parent_count
from genesys.gau.library import library

# How often each kind of mutation is tried, when the tree allows it.
MUTATION_WEIGHTS = {"replace": 0.4, "hyperparameter": 0.35, "insert": 0.15, "remove": 0.1}
SCRATCH_WRAPPER_PROBABILITY = 0.2  # a scratch token mixer is wrapped (conv, gate) this often
SCRATCH_ARG_PROBABILITY = 0.5  # each hyper-parameter of a scratch unit is drawn (else left at its default)


class NoCandidateError(ValueError):
    """The operator found no change it can make to these parents."""


Edit = tuple[DesignTree, Change]


def _design(name: str, operation: str, parents: Sequence[Design], tree: DesignTree, changes: list[Change],
            evolution: str | None) -> Design:
    names = [p.name for p in parents]
    return Design(
        metadata=ObjectMeta(name=name),
        spec=DesignSpec(evolution=evolution, parents=names, operation=operation,
                        proposal=describe(operation, names, changes, tree), tree=tree, **inherited(parents)),
    )


# ------------------------------------------------------------------ mutation


def _replace_options(tree: DesignTree) -> list[Callable[[], Edit]]:
    options: list[Callable[[], Edit]] = []
    for name in tree.reachable():
        role = role_of(name)
        if role is None or name not in tree.units or is_wrapper(library()[name]):
            continue
        for unit in candidates(role):
            if unit.name != name:
                options.append(partial(_replace, tree, name, unit.name))
    return options


def _replace(tree: DesignTree, target: str, new: str) -> Edit:
    own = library_subtree(new)
    incoming = fill_slots(new, own.units[new], own.units, list(tree.units[target].children), tree.units)
    parents = ", ".join(parents_of(tree.units, target))
    return graft(tree, target, incoming), Change("replace", target, new=new, parent=parents)


def _hyperparameter_options(tree: DesignTree) -> list[Callable[[], Edit]]:
    options: list[Callable[[], Edit]] = []
    for name in tree.reachable():
        unit, spec = library().get(name), tree.units.get(name)
        if unit is None or spec is None or not unit.search_space:
            continue
        defaults = init_defaults(spec.code, name)
        for param, values in unit.search_space.items():
            if param not in defaults:
                continue  # the code no longer takes this hyper-parameter
            current = spec.args.get(param, defaults[param])
            for value in values:
                if not same_value(value, current):
                    options.append(partial(_set_arg, tree, name, param, current, value, defaults[param]))
    return options


def _set_arg(tree: DesignTree, name: str, param: str, current: Any, value: Any, default: Any) -> Edit:
    spec = tree.units[name]
    args = {k: v for k, v in spec.args.items() if k != param}
    if not same_value(value, default):
        args[param] = value
    units = {**tree.units, name: spec.model_copy(update={"args": args})}
    change = Change("hyperparameter", name, param=param, old_value=current, new_value=value)
    return DesignTree(root=tree.root, units=units), change


def _insert_options(tree: DesignTree) -> list[Callable[[], Edit]]:
    options: list[Callable[[], Edit]] = []
    for name in tree.reachable():
        role = role_of(name)
        if name == tree.root or role is None or name not in tree.units:
            continue
        for wrapper in candidates(role, wrappers=True):
            if is_wrapper(wrapper) and wrapper.name not in tree.units:
                options.append(partial(_insert, tree, name, wrapper.name))
    return options


def _insert(tree: DesignTree, target: str, wrapper: str) -> Edit:
    own = library_subtree(wrapper)
    incoming = fill_slots(wrapper, own.units[wrapper], own.units, [target], tree.units)
    if target not in incoming.units:
        raise GraftError(f"{wrapper} has no slot for {target}")
    parents = ", ".join(parents_of(tree.units, target))
    return graft(tree, target, incoming), Change("insert", target, new=wrapper, parent=parents)


def _remove_options(tree: DesignTree) -> list[Callable[[], Edit]]:
    options: list[Callable[[], Edit]] = []
    for name in tree.reachable():
        unit, spec = library().get(name), tree.units.get(name)
        if name == tree.root or unit is None or spec is None or not is_wrapper(unit):
            continue
        inner = [c for c in spec.children if role_of(c) == unit.role and c in tree.units]
        if len(inner) == 1:
            options.append(partial(_remove, tree, name, inner[0]))
    return options


def _remove(tree: DesignTree, wrapper: str, inner: str) -> Edit:
    parents = ", ".join(parents_of(tree.units, wrapper))
    new = graft(tree, wrapper, subtree(tree.units, inner))
    return new, Change("remove", wrapper, new=inner, parent=parents)


_MUTATIONS = {"replace": _replace_options, "hyperparameter": _hyperparameter_options,
              "insert": _insert_options, "remove": _remove_options}


def mutate(parent: Design, name: str, rng: random.Random, evolution: str | None = None) -> Design:
    """Change exactly one thing of `parent`: replace a unit by a library unit of the same
    role, move one hyper-parameter within its search space, or insert/remove a wrapper."""
    tree = parent.spec.tree
    before = tree_fingerprint(tree)
    pools = {kind: make(tree) for kind, make in _MUTATIONS.items()}
    while any(pools.values()):
        kinds = [k for k in MUTATION_WEIGHTS if pools[k]]
        kind = rng.choices(kinds, weights=[MUTATION_WEIGHTS[k] for k in kinds])[0]
        option = pools[kind].pop(rng.randrange(len(pools[kind])))
        try:
            new_tree, change = option()
        except GraftError:
            continue
        if tree_fingerprint(new_tree) == before:
            continue  # e.g. a block that wires the same units under other names
        return _design(name, "mutation", [parent], new_tree, [change], evolution)
    raise NoCandidateError(f"no mutation applies to {parent.name}: none of its units is in the unit library")


# ------------------------------------------------------------------ crossover


def _graft_options(tree: DesignTree, donor: Design) -> list[tuple[str, Callable[[], Edit]]]:
    """(role, graft) pairs: each same-role subtree of `donor` in place of one of `tree`'s,
    and the donor's block wired around `tree`'s units."""
    other = donor.spec.tree
    options: list[tuple[str, Callable[[], Edit]]] = []
    for source in other.reachable():
        role = role_of(source)
        if role is None or source not in other.units:
            continue
        if source == other.root:
            if role_of(tree.root) == "block":
                options.append((role, partial(_layout, tree, other, source, donor.name)))
            continue
        incoming = subtree(other.units, source)
        for target in tree.reachable():
            if target != tree.root and role_of(target) == role and target in tree.units:
                if target == source and subtree(tree.units, target) == incoming:
                    continue  # the same unit: nothing to swap
                options.append((role, partial(_swap, tree, target, incoming, donor.name)))
    return options


def _swap(tree: DesignTree, target: str, incoming: Subtree, donor: str) -> Edit:
    parents = ", ".join(parents_of(tree.units, target))
    change = Change("graft", target, new=incoming.root, parent=parents, donor=donor)
    return graft(tree, target, incoming), change


def _layout(tree: DesignTree, other: DesignTree, block: str, donor: str) -> Edit:
    incoming = fill_slots(block, other.units[block], other.units, list(tree.units[tree.root].children), tree.units)
    return graft(tree, tree.root, incoming), Change("layout", tree.root, new=block, donor=donor)


def crossover(parents: Sequence[Design], name: str, rng: random.Random, evolution: str | None = None) -> Design:
    """Recombine 2+ parents: one parent (drawn) is the base; each other parent gives it one
    same-role subtree (its token mixer, channel mixer, norm, ...) or its block layout."""
    if len(parents) < 2:
        raise NoCandidateError(f"crossover needs 2 or more parents, got {len(parents)}")
    bases = list(range(len(parents)))
    rng.shuffle(bases)
    known = {tree_fingerprint(p.spec.tree) for p in parents}
    for b in bases:  # another base when this one takes nothing from the others
        donors = [p for i, p in enumerate(parents) if i != b]
        tree, changes, taken = parents[b].spec.tree, [], set()
        for donor in donors:
            # Each donor fills a role no earlier donor filled, so every donor shows in the child.
            options = [(role, option) for role, option in _graft_options(tree, donor) if role not in taken]
            rng.shuffle(options)
            before = tree_fingerprint(tree)
            for role, option in options:
                try:
                    grafted, change = option()
                except GraftError:
                    continue
                after = tree_fingerprint(grafted)
                if after != before and after not in known:  # a change, and not a copy of a parent
                    tree = grafted
                    changes.append(change)
                    taken.add(role)
                    break
        if changes:
            return _design(name, "crossover", [parents[b], *donors], tree, changes, evolution)
    names = ", ".join(p.name for p in parents)
    raise NoCandidateError(f"every recombination of {names} is a copy of one of them: nothing to recombine")


# ------------------------------------------------------------------ scratch


def random_args(tree: DesignTree, rng: random.Random, probability: float = SCRATCH_ARG_PROBABILITY) -> DesignTree:
    """Each hyper-parameter of each library unit drawn from its search space with `probability`."""
    units = dict(tree.units)
    for name in tree.reachable():
        unit, spec = library().get(name), units.get(name)
        if unit is None or spec is None:
            continue
        defaults = init_defaults(spec.code, name)
        args = dict(spec.args)
        for param, values in unit.search_space.items():
            if param in defaults and rng.random() < probability:
                value = rng.choice(values)
                if same_value(value, defaults[param]):
                    args.pop(param, None)
                else:
                    args[param] = value
        units[name] = spec.model_copy(update={"args": args})
    return DesignTree(root=tree.root, units=units)


def scratch(name: str, rng: random.Random, evolution: str | None = None, attempts: int = 20) -> Design:
    """A random tree from the grammar: a block, its slots filled by random library units of
    their roles (positions that fit their mixer), random hyper-parameters."""
    for _ in range(attempts):
        try:
            drawn = random_subtree("block", rng, wrapper_probability=SCRATCH_WRAPPER_PROBABILITY)
            tree = make_tree(drawn.root, drawn.units)
        except GraftError:
            continue
        tree = random_args(tree, rng)
        change = Change("scratch", tree.root, new=compact(tree))
        return _design(name, "scratch", [], tree, [change], evolution)
    raise NoCandidateError("the unit grammar gave no valid tree; check the unit library's roles")


def generate(operation: str, parents: Sequence[Design], name: str, rng: random.Random,
             evolution: str | None = None) -> Design:
    """One candidate of `operation` (mutation | crossover | scratch) from `parents`."""
    check_parent_count(operation, len(parents))
    if operation == "mutation":
        return mutate(parents[0], name, rng, evolution)
    if operation == "crossover":
        return crossover(parents, name, rng, evolution)
    return scratch(name, rng, evolution)
