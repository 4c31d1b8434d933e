"""Import the Genesys paper's designs (allenai/genesys) as genesys-lm Design manifests.

    genesys library import-genesys ~/genesys/model_discovery --out designs/genesys

    from genesys.agents.genesys_import import import_designs
    for item in import_designs([Path("genesys/model_discovery")]):
        item.converted.design if item.converted else item.blocked

Reads both of Genesys's layouts (genesys_import.layouts), applies mechanical rewrites only, each
reported (genesys_import.rewrite, .dependencies), and keeps the units' tests beside them. Identical
trees (Genesys stores a design again under every design that used it) are imported once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from genesys.agents.genesys_import.convert import Converted, convert, git_commit
from genesys.agents.genesys_import.layouts import GenesysTree, LayoutError, find_designs, read_design
from genesys.agents.genesys_import.rewrite import ImportBlocked, Note


@dataclass
class Imported:
    source: Path
    converted: Converted | None = None
    blocked: str | None = None  # one line: what keeps it from being imported
    duplicate_of: str | None = None  # the source of the identical tree imported before it


def tree_key(tree: GenesysTree) -> str:
    return hashlib.sha256(json.dumps([tree.root, sorted((n, u.code) for n, u in tree.units.items())])
                          .encode()).hexdigest()


def import_designs(paths: list[Path]) -> list[Imported]:
    """Every design under `paths`, converted or with the reason it is not; raises LayoutError for a bad path."""
    items: list[Imported] = []
    taken: set[str] = set()
    seen: dict[str, str] = {}
    commits: dict[Path, str | None] = {}
    for path in find_designs(paths):
        try:
            tree = read_design(path)
        except LayoutError as err:
            items.append(Imported(path, blocked=str(err)))
            continue
        key = tree_key(tree)
        if key in seen:
            items.append(Imported(path, duplicate_of=seen[key]))
            continue
        seen[key] = str(path)
        top = path.parents[-2] if len(path.parents) > 1 else path
        commit = commits.setdefault(top, git_commit(path))
        try:
            items.append(Imported(path, converted=convert(tree, taken, commit)))
        except ImportBlocked as err:
            items.append(Imported(path, blocked=str(err)))
    return items


__all__ = ["Converted", "ImportBlocked", "Imported", "LayoutError", "Note", "import_designs"]
