"""A Genesys design as a genesys-lm Design manifest, its unit tests beside it, and a report line.

    result = convert(read_design(path), taken=set())
    result.design, result.tests, result.notes      # or ImportBlocked with its one-line reason
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from genesys.agents.genesys_import.layouts import GenesysTree
from genesys.agents.genesys_import.rewrite import ImportBlocked, Note, rewrite_imports, rewrite_unit
from genesys.api import Design, DesignSpec, DesignTree, ObjectMeta, Proposal, UnitSpec

ANNOTATION = "genesys.dev/genesys-"
MAX_NAME = 63


def dns_name(name: str, taken: set[str]) -> str:
    """A lower-case DNS label from a Genesys name ("HierGPT_2" -> "hiergpt-2"), unique among `taken`."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:MAX_NAME - 4].strip("-") or "design"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def git_commit(path: Path) -> str | None:
    """The commit of the checkout `path` is in, when it is in one."""
    try:
        done = subprocess.run(["git", "-C", str(path if path.is_dir() else path.parent), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


@dataclass
class Converted:
    design: Design
    tests: dict[str, str]  # unit -> its Genesys unit tests, rewritten to import from genesys.gau
    notes: list[Note] = field(default_factory=list)


def _reachable(tree: GenesysTree) -> list[str]:
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order or name in path:
            return
        if name not in tree.units:
            raise ImportBlocked(f"unit {path[-1] if path else '?'} has a child {name} the design does not define")
        for child in tree.units[name].children:
            visit(child, (*path, name))
        order.append(name)

    if tree.root not in tree.units:
        raise ImportBlocked(f"root {tree.root!r} is not one of its units ({', '.join(tree.units)})")
    visit(tree.root, ())
    return order


def convert(tree: GenesysTree, taken: set[str], commit: str | None = None) -> Converted:
    """The Design for `tree` (named uniquely among `taken`, which it extends); raises ImportBlocked."""
    names = _reachable(tree)
    sources = {n: tree.units[n].code for n in tree.units}
    units: dict[str, UnitSpec] = {}
    tests: dict[str, str] = {}
    notes: list[Note] = []
    for name in names:
        unit = tree.units[name]
        if not unit.code.strip():
            raise ImportBlocked(f"unit {name} has no code")
        children = list(dict.fromkeys(unit.children))
        if len(children) < len(unit.children):
            notes.append(Note(name, "declarations", "a child listed twice is listed once"))
        code, more = rewrite_unit(unit.code, name, sources, children)
        notes += more
        try:
            units[name] = UnitSpec(code=code, children=children)
        except ValidationError as err:
            raise ImportBlocked(f"unit {name}: {err.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        if unit.tests:
            header = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n" \
                     "from genesys.gau import GAUBase, UnitDecl\n\n\ndef gau_test(fn):\n    return fn\n\n\n"
            body = "\n\n".join(rewrite_imports(t, name)[0].strip() for t in unit.tests.values())
            tests[name] = header + body + "\n"
    annotations = {f"{ANNOTATION}source": tree.source, f"{ANNOTATION}name": tree.name}
    if commit:
        annotations[f"{ANNOTATION}commit"] = commit
    if tree.status:
        annotations[f"{ANNOTATION}status"] = str(tree.status)
    if tree.scores:
        annotations[f"{ANNOTATION}scores"] = json.dumps({k: round(v, 6) for k, v in sorted(tree.scores.items())})
    if tree.seeds:
        annotations[f"{ANNOTATION}seeds"] = ",".join(tree.seeds)
    if notes:
        annotations[f"{ANNOTATION}rewrites"] = str(len(notes))
    first_line = tree.proposal.strip().splitlines()[0] if tree.proposal.strip() else tree.name
    proposal = Proposal(title=f"{tree.name} (Genesys)"[:200], abstract=first_line[:2000], body=tree.proposal,
                        rating=_rating(tree.rating))
    try:
        design_tree = DesignTree(root=tree.root, units=units)
    except ValidationError as err:
        raise ImportBlocked(err.errors()[0]["msg"].removeprefix("Value error, ")) from None
    design = Design(metadata=ObjectMeta(name=dns_name(tree.name, taken), annotations=annotations,
                                        labels={"genesys.dev/imported-from": "genesys"}),
                    spec=DesignSpec(operation="seed", proposal=proposal, tree=design_tree, semantics="genesys",
                                    kwargs=merged_args(tree, names)))
    return Converted(design, tests, notes)


def merged_args(tree: GenesysTree, names: list[str]) -> dict[str, Any]:
    """The units' args merged in tree order, later units winning: Genesys's design-level config, which
    seeds every block's kwarg_all under Genesys semantics."""
    merged: dict[str, Any] = {}
    for name in names:
        merged.update(tree.units[name].args)
    return merged


def _rating(value: Any) -> float | None:
    try:
        rating = float(value)
    except (TypeError, ValueError):
        return None
    return rating if 0 <= rating <= 5 else None
