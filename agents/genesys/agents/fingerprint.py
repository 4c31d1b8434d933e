"""Structural fingerprints of designs: equal for trees that compute the same model.

Shared by the GP and LLM designers (a design either makes is checked against every other).

The hash covers the tree below the root, by structure: each unit's code as a syntax
tree without docstrings, comments or declarations, with the names a writer picks
freely (class, attributes, locals, child classes) replaced by placeholders; its
hyper-parameters, where a value equal to the code's own default counts as unset; and
its children, recursively. Names and proposals are not part of it, so a renamed copy
of a design (GPT2Block wiring what RetNetBlock wires) is a duplicate.

    if fingerprint(candidate) in {fingerprint(d) for d in existing}: ...
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from genesys.agents.unit_source import canonical_code, init_defaults, same_value
from genesys.api import Design, DesignTree, UnitSpec
from genesys.gau.base import RESIDUAL_PROJECTION_NAMES


def normalised_args(name: str, spec: UnitSpec) -> dict[str, Any]:
    """`spec.args` without the entries that repeat the unit's own defaults."""
    if not spec.args:
        return {}
    try:
        defaults = init_defaults(spec.code, name)
    except SyntaxError:
        defaults = {}
    return {k: v for k, v in sorted(spec.args.items()) if not (k in defaults and same_value(v, defaults[k]))}


def _structure(tree: DesignTree, name: str, path: tuple[str, ...]) -> Any:
    spec = tree.units.get(name)
    if spec is None or name in path:  # a declared-only child (or a cycle, which validation rejects)
        return ["declared", name]
    children = tuple(sorted(spec.children))
    try:
        # Residual projection names change the LM's init (genesys.gau.base): they stay.
        code = canonical_code(spec.code, name, children, keep_attrs=RESIDUAL_PROJECTION_NAMES)
    except SyntaxError:  # broken code is compared as text; it is never a GP product
        code = " ".join(spec.code.split())
    return [code, normalised_args(name, spec), [_structure(tree, c, path + (name,)) for c in children]]


def tree_fingerprint(tree: DesignTree) -> str:
    text = json.dumps(_structure(tree, tree.root, ()), sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def fingerprint(design: Design) -> str:
    """A short hex digest of the design's normalised unit tree, and of how it runs when that is not the
    default (spec.semantics genesys, spec.kwargs): the same tree under Genesys's semantics is another model."""
    spec = design.spec
    if spec.semantics == "genesys-lm" and not spec.kwargs:
        return tree_fingerprint(spec.tree)
    extra = json.dumps([spec.semantics, spec.kwargs], sort_keys=True, default=repr)
    return hashlib.sha256((tree_fingerprint(spec.tree) + extra).encode("utf-8")).hexdigest()[:16]


def inherited(parents: Sequence[Design]) -> dict[str, Any]:
    """What a child takes from the parent whose tree it starts from (the first): semantics and kwargs."""
    if not parents:
        return {}
    return {"semantics": parents[0].spec.semantics, "kwargs": dict(parents[0].spec.kwargs)}
