"""A small in-memory hybrid index: cosine similarity over embeddings fused with BM25 over the text.

Fusion is relative-score fusion, the same rule as Weaviate's `HybridFusion.RELATIVE_SCORE`: each
ranker's scores over the candidate documents are min-max normalized to [0, 1] and combined as
`alpha * vector + (1 - alpha) * bm25`. alpha = 1 is pure semantic search, alpha = 0 pure keyword
search; the default 0.5 lets exact terms ("RoPE", "ALiBi") and paraphrases both count. A document
with no query term gets BM25 0; a ranker whose scores are all equal contributes 0 to every document.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

DEFAULT_ALPHA = 0.5
_TOKEN = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    "a an and are as at be by can for from has have in into is it its of on or that the their then these this "
    "to was which with without while each per than so such".split())


def tokenize(text: str) -> list[str]:
    """Lower-case alphanumeric runs, stop words and single letters dropped, a light plural strip
    (heads -> head); numbers stay ("Mamba-2" -> mamba, 2)."""
    out = []
    for tok in _TOKEN.findall(text.lower()):
        if tok in _STOPWORDS or (len(tok) == 1 and tok.isalpha()):
            continue
        if len(tok) > 3 and tok.endswith("s") and not tok.endswith(("ss", "us", "is")):
            tok = tok[:-1]
        out.append(tok)
    return out


class BM25:
    """Okapi BM25 (k1, b) over a fixed list of documents, with the non-negative idf variant."""

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self.docs = [Counter(tokenize(d)) for d in documents]
        self.lengths = np.array([sum(c.values()) for c in self.docs], dtype=np.float64)
        self.avg_length = float(self.lengths.mean()) if len(self.docs) else 0.0
        df: Counter[str] = Counter()
        for c in self.docs:
            df.update(c.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1.0 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(len(self.docs), dtype=np.float64)
        if not self.docs:
            return out
        norm = self.k1 * (1 - self.b + self.b * self.lengths / max(self.avg_length, 1e-9))
        for term in set(tokenize(query)):
            idf = self.idf.get(term)
            if idf is None:
                continue
            tf = np.array([c.get(term, 0) for c in self.docs], dtype=np.float64)
            out += idf * tf * (self.k1 + 1) / (tf + norm)
        return out


def _minmax(x: np.ndarray) -> np.ndarray:
    if x.size == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def fuse(vector_scores: np.ndarray, keyword_scores: np.ndarray, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """Relative-score fusion of two rankers' scores over the same candidates (see the module doc)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1] (1 = vector only, 0 = BM25 only), not {alpha}")
    return alpha * _minmax(vector_scores) + (1 - alpha) * _minmax(keyword_scores)


@dataclass
class HybridIndex:
    """Rows of unit-length vectors and their texts, searched by fused cosine + BM25."""

    vectors: np.ndarray
    texts: list[str]

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float32).reshape(len(self.texts), -1)
        self.bm25 = BM25(self.texts)

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, vector: np.ndarray, text: str) -> None:
        self.vectors = np.vstack([self.vectors.reshape(len(self.texts), -1), np.asarray(vector, np.float32)[None]])
        self.texts.append(text)
        self.bm25 = BM25(self.texts)

    def search(self, query_vector: np.ndarray, query_text: str, k: int, candidates: np.ndarray | None = None,
               alpha: float = DEFAULT_ALPHA) -> list[tuple[int, float]]:
        """The k best (row, fused score) among `candidates` (row indices; all rows when None), best first."""
        rows = np.arange(len(self.texts)) if candidates is None else np.asarray(candidates, dtype=np.int64)
        if k <= 0 or rows.size == 0:
            return []
        cosine = self.vectors[rows] @ np.asarray(query_vector, dtype=np.float32)
        fused = fuse(cosine.astype(np.float64), self.bm25.scores(query_text)[rows], alpha)
        # ties (equal fused score) broken by cosine, then by row, so results are deterministic
        order = np.lexsort((rows, -cosine, -fused))[:k]
        return [(int(rows[i]), float(fused[i])) for i in order]
