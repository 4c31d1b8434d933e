"""What the agents are shown: parents, siblings, the unit library and knowledge hits, as plain data for prompts.

Everything here is a dict or a string a template prints; nothing calls an LLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genesys.agents.gp.proposal import compact, outline
from genesys.api import Design, DesignTree

MAX_SIBLINGS = 8


@dataclass(frozen=True)
class UnitRef:
    """A unit the planner may reuse: a library unit, or a parent's unit (`design.Unit`)."""

    key: str
    name: str
    code: str
    children: tuple[str, ...]
    source_tree: DesignTree | None  # where its children's code comes from (a parent's tree); None: the library


def design_view(design: Design, scores: dict[str, float] | None = None, code: bool = True) -> dict[str, Any]:
    """A design as the proposer sees it: its proposal, its tree and units' code, its fitness per rung."""
    proposal = design.spec.proposal
    tree = design.spec.tree
    units = [{"name": n, "children": tree.units[n].children, "args": tree.units[n].args,
              "code": tree.units[n].code.strip()} for n in tree.reachable() if n in tree.units]
    return {"name": design.name, "title": proposal.title if proposal else design.name,
            "abstract": (proposal.abstract if proposal else "").strip(), "operation": design.spec.operation,
            "compact": compact(tree), "outline": outline(tree), "units": units if code else [],
            "scores": dict(sorted((scores or {}).items())),
            "scores_text": ", ".join(f"{rung} {f:.4f}" for rung, f in sorted((scores or {}).items()))}


def siblings(parents: Sequence[Design], existing: Sequence[Design]) -> list[dict[str, Any]]:
    """Earlier designs that share a parent with this session's: what was already tried from here."""
    names = {p.name for p in parents}
    found = [d for d in existing if names & set(d.spec.parents)]
    return [{"name": d.name, "title": d.spec.proposal.title if d.spec.proposal else d.name,
             "compact": compact(d.spec.tree)} for d in found[-MAX_SIBLINGS:]]


def library_view() -> list[dict[str, str]]:
    """The unit library: name, role, children and the first sentence of the docstring."""
    from genesys.gau.library import library

    rows = []
    for name, info in sorted(library().items()):
        first = info.doc.split("\n\n")[0].replace("\n", " ").strip()
        rows.append({"name": name, "role": info.role, "children": ", ".join(info.children), "doc": first})
    return rows


def reusable_units(parents: Sequence[Design]) -> dict[str, UnitRef]:
    """Units the planner may reuse by key: every library unit by name, every parent unit as design.Unit."""
    from genesys.gau.library import library

    refs = {name: UnitRef(name, name, info.source, info.children, None) for name, info in library().items()}
    for parent in parents:
        tree = parent.spec.tree
        for name in tree.reachable():
            spec = tree.units.get(name)
            if spec is not None and spec.code.strip():
                key = f"{parent.name}.{name}"
                refs[key] = UnitRef(key, name, spec.code, tuple(spec.children), tree)
    return refs


def paper_hits(hits: Sequence[Any]) -> list[dict[str, Any]]:
    """Knowledge hits as the prompts print them."""
    return [{"id": h.paper.id, "title": h.paper.title, "year": h.paper.year, "summary": h.paper.summary.strip(),
             "score": round(h.score, 3)} for h in hits]
