"""`KnowledgeBase.search(query, k, tags)`: one interface over the library, two backends.

- `LocalBackend` (the embedded default): the shipped embeddings plus BM25, fused (see index.py).
- `WeaviateBackend` (weaviate_backend.py): the same papers and vectors in a Weaviate collection, searched with
  Weaviate's hybrid query and the same fusion rule.

Queries are embedded here, with the same model that made the library's vectors, so backends only ever
see (text, vector) pairs. `KnowledgeBase.from_env()` picks Weaviate when a URL is given or set in
GENESYS_WEAVIATE_URL / WEAVIATE_URL, the local index otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from genesys.knowledge.index import DEFAULT_ALPHA, HybridIndex
from genesys.knowledge.papers import Library, Paper, load_library

URL_VARIABLES = ("GENESYS_WEAVIATE_URL", "WEAVIATE_URL")
Embedder = Callable[[str], np.ndarray]


@dataclass(frozen=True)
class Hit:
    paper: Paper
    score: float  # fused relevance in [0, 1], higher is better


class Backend(Protocol):
    def search(self, query: str, vector: np.ndarray, k: int, tags: Sequence[str] | None,
               alpha: float) -> list[tuple[str, float]]:
        """The k best (arXiv id, score), best first, among papers carrying every tag in `tags`."""
        ...


class LocalBackend:
    """The library's shipped embeddings and a BM25 index over the same texts, in memory."""

    def __init__(self, library: Library, vectors: np.ndarray | None = None):
        if vectors is None:
            from genesys.knowledge.build import load_embeddings

            vectors = load_embeddings(library)
        self.library = library
        self.index = HybridIndex(vectors, [p.embedding_text() for p in library.papers])

    def search(self, query: str, vector: np.ndarray, k: int, tags: Sequence[str] | None,
               alpha: float) -> list[tuple[str, float]]:
        papers = self.library.papers
        rows = None if not tags else np.array([i for i, p in enumerate(papers) if set(tags) <= set(p.tags)])
        return [(papers[i].id, s) for i, s in self.index.search(vector, query, k, rows, alpha)]


def _default_embedder(text: str) -> np.ndarray:
    from genesys.knowledge import embed

    return embed.embed_one(text)


def weaviate_url(url: str | None = None) -> str | None:
    """The Weaviate URL: the argument, else GENESYS_WEAVIATE_URL, else WEAVIATE_URL, else None."""
    if url:
        return url
    for name in URL_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    return None


class KnowledgeBase:
    def __init__(self, backend: Backend | None = None, library: Library | None = None,
                 embedder: Embedder | None = None):
        self.library = library or load_library()
        self.backend = backend if backend is not None else LocalBackend(self.library)
        self.embedder = embedder or _default_embedder

    @classmethod
    def from_env(cls, url: str | None = None, embedder: Embedder | None = None) -> KnowledgeBase:
        """Weaviate at `url` (or the environment's URL) when there is one, the local index otherwise."""
        library = load_library()
        resolved = weaviate_url(url)
        if resolved is None:
            return cls(LocalBackend(library), library, embedder)
        from genesys.knowledge.weaviate_backend import WeaviateBackend

        return cls(WeaviateBackend.connect(resolved, library), library, embedder)

    def paper(self, arxiv_id: str) -> Paper:
        return self.library.paper(arxiv_id)

    def search(self, query: str, k: int = 5, tags: Sequence[str] | None = None,
               alpha: float = DEFAULT_ALPHA) -> list[Hit]:
        """The k papers most relevant to `query`, best first; `tags` keeps papers that have all of them."""
        if not query.strip():
            raise ValueError("the knowledge base needs a non-empty query")
        unknown = [t for t in tags or () if t not in self.library.vocabulary]
        if unknown:
            raise ValueError(f"unknown tags {unknown}; the library's tags are {', '.join(self.library.vocabulary)}")
        found = self.backend.search(query, self.embedder(query), k, list(tags) if tags else None, alpha)
        return [Hit(self.library.paper(i), score) for i, score in found]

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
