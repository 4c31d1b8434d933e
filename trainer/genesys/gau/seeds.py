"""Seed designs: human architectures (GPT, Mamba2, RetNet, RWKV, TTT) that start a population.

A seed is a small YAML file in `seed_proposals/` naming its root unit and describing it;
its tree is the root's declared children, recursively, taken from the unit library.
Written out, these are the manifests genesys.api ships (genesys.api.seed_library, for
runtimes without torch) and `examples/designs/`: `genesys library export DIR` makes both.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from genesys.api import Design, DesignSpec, DesignTree, ObjectMeta, Proposal, UnitSpec
from genesys.api.seed_library import SeedNotFoundError
from genesys.gau.library import get_unit


@cache
def _proposals() -> dict[str, dict]:
    seeds = {}
    for entry in resources.files("genesys.gau").joinpath("seed_proposals").iterdir():
        if entry.name.endswith(".yaml"):
            seeds[entry.name.removesuffix(".yaml")] = yaml.safe_load(entry.read_text(encoding="utf-8"))
    return dict(sorted(seeds.items()))


def seed_names() -> list[str]:
    return list(_proposals())


def tree_from_library(root: str) -> DesignTree:
    """The tree under `root`, each unit's children as its file declares them."""
    units: dict[str, UnitSpec] = {}
    pending = [root]
    while pending:
        name = pending.pop()
        if name in units:
            continue
        unit = get_unit(name)
        units[name] = UnitSpec(children=list(unit.children), code=unit.source)
        pending.extend(unit.children)
    return DesignTree(root=root, units=units)


def seed_design(name: str) -> Design:
    files = _proposals()
    if name not in files:
        raise SeedNotFoundError(name, files)
    entry = files[name]
    return Design(
        metadata=ObjectMeta(name=name, labels={"genesys.dev/seed": "true"}),
        spec=DesignSpec(
            operation="seed",
            proposal=Proposal(title=entry["title"], abstract=entry["abstract"].strip()),
            tree=tree_from_library(entry["root"]),
        ),
    )
