"""Search over earlier designs and proposals: the reviewer's novelty check and the planner's unit reuse.

Each Design is indexed by the text "title. motivation. Units: A, B, ..." (its proposal's title and
abstract, and the names of its units), embedded with the library's model and ranked with the same
cosine + BM25 fusion as the paper library. Fused scores are relative to the other candidates, so every
hit also carries its plain cosine similarity, which is comparable across queries: near-duplicates of a
proposal score close to 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from genesys.api.design import Design, Proposal
from genesys.knowledge.index import DEFAULT_ALPHA, HybridIndex
from genesys.knowledge.search import Embedder, _default_embedder


@dataclass(frozen=True)
class DesignHit:
    name: str
    title: str
    units: tuple[str, ...]
    score: float  # fused rank score in [0, 1] among the indexed designs
    cosine: float  # semantic similarity of the texts, in [-1, 1]


def proposal_text(title: str, motivation: str = "", units: Sequence[str] = ()) -> str:
    parts = [title.strip().rstrip(".") + "."]
    if motivation.strip():
        parts.append(" ".join(motivation.split()))
    if units:
        parts.append(f"Units: {', '.join(units)}.")
    return " ".join(parts)


@dataclass
class _Entry:
    title: str
    units: tuple[str, ...]
    text: str
    vector: np.ndarray


class DesignIndex:
    def __init__(self, embedder: Embedder | None = None):
        self.embedder = embedder or _default_embedder
        self._entries: dict[str, _Entry] = {}
        self._index: HybridIndex | None = None
        self._names: list[str] = []

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def add(self, design: Design) -> None:
        """Index a Design (a re-added name replaces its earlier entry)."""
        proposal = design.spec.proposal or Proposal(title=design.metadata.name)
        self.add_proposal(design.metadata.name, proposal, list(design.spec.tree.units))

    def add_all(self, designs: Iterable[Design]) -> None:
        for d in designs:
            self.add(d)

    def add_proposal(self, name: str, proposal: Proposal, units: Sequence[str] = ()) -> None:
        """Index a proposal that has no Design yet (units: the unit names it has or plans)."""
        text = proposal_text(proposal.title, proposal.abstract, units)
        self._entries[name] = _Entry(proposal.title, tuple(units), text, np.asarray(self.embedder(text), np.float32))
        self._index = None

    def similar(self, text: str, k: int = 5, exclude: Sequence[str] = (),
                alpha: float = DEFAULT_ALPHA) -> list[DesignHit]:
        """The k indexed designs most similar to `text`, best first (names in `exclude` skipped)."""
        if not text.strip():
            raise ValueError("DesignIndex.similar needs a non-empty text (a proposal's title and motivation)")
        if not self._entries:
            return []
        if self._index is None:
            self._names = list(self._entries)
            vectors = np.stack([self._entries[n].vector for n in self._names])
            self._index = HybridIndex(vectors, [self._entries[n].text for n in self._names])
        rows = np.array([i for i, n in enumerate(self._names) if n not in set(exclude)], dtype=np.int64)
        vector = np.asarray(self.embedder(text), np.float32)
        hits = []
        for row, score in self._index.search(vector, text, k, rows, alpha):
            entry = self._entries[self._names[row]]
            hits.append(DesignHit(self._names[row], entry.title, entry.units, score,
                                  float(entry.vector @ vector)))
        return hits

    def similar_to(self, proposal: Proposal, units: Sequence[str] = (), k: int = 5,
                   exclude: Sequence[str] = ()) -> list[DesignHit]:
        """similar() for a proposal, built into the same text form as the indexed entries."""
        return self.similar(proposal_text(proposal.title, proposal.abstract, units), k, exclude)
