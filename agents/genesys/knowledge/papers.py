"""The reference library: LM-architecture papers shipped as `library/papers.yaml`.

Loading validates every entry (ids, fields, tag vocabulary, summary length) so a bad edit fails with a
message naming the entry and the fix, never later inside a search. The library's content hash covers
exactly what the shipped embeddings are computed from (`embedding_text` of every paper, in order).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LIBRARY_DIR = Path(__file__).resolve().parent / "library"
PAPERS_FILE = LIBRARY_DIR / "papers.yaml"
MIN_PAPERS = 150
ARXIV_ID = re.compile(r"^\d{4}\.\d{4,5}$")
# a sentence ends at . ! or ? followed by whitespace and an upper-case letter or digit
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"])")
_FIELDS = {"id", "title", "year", "tags", "summary"}
_OPTIONAL = {"verified_by"}


class LibraryError(ValueError):
    """The library file is malformed; the message names the entry and the fix."""


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    year: int
    tags: tuple[str, ...]
    summary: str
    verified_by: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.id}"

    def embedding_text(self) -> str:
        """What is embedded and indexed for this paper: title, summary and tags."""
        return f"{self.title}. {self.summary} Topics: {', '.join(self.tags)}."

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "year": self.year, "tags": list(self.tags),
                "summary": self.summary, "verified_by": list(self.verified_by)}


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


@dataclass(frozen=True)
class Library:
    papers: tuple[Paper, ...]
    vocabulary: tuple[str, ...]
    seed_papers: dict[str, tuple[str, ...]]

    def __len__(self) -> int:
        return len(self.papers)

    @functools.cached_property
    def by_id(self) -> dict[str, Paper]:
        return {p.id: p for p in self.papers}

    def paper(self, arxiv_id: str) -> Paper:
        try:
            return self.by_id[arxiv_id]
        except KeyError:
            raise KeyError(f"arXiv {arxiv_id} is not in the library ({PAPERS_FILE}); add an entry there "
                           "and run `python -m genesys.knowledge.build`") from None

    def for_seed(self, seed: str) -> list[Paper]:
        """The papers a seed design implements, its own paper first."""
        if seed not in self.seed_papers:
            raise KeyError(f"seed {seed!r} has no papers in the library's seed_papers "
                           f"(known: {', '.join(sorted(self.seed_papers))})")
        return [self.paper(i) for i in self.seed_papers[seed]]

    def content_hash(self) -> str:
        """sha256 over (id, embedding text) of every paper in order: what the embeddings depend on."""
        blob = json.dumps([[p.id, p.embedding_text()] for p in self.papers], ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()


def _paper(raw: Any, index: int, vocabulary: set[str]) -> Paper:
    where = f"{PAPERS_FILE.name} entry #{index}"
    if not isinstance(raw, dict):
        raise LibraryError(f"{where} is not a mapping; write it as `- id: ...` with title, year, tags, summary")
    where += f" (id {raw.get('id')!r})"
    missing, extra = _FIELDS - raw.keys(), raw.keys() - _FIELDS - _OPTIONAL
    if missing or extra:
        raise LibraryError(f"{where}: missing fields {sorted(missing)}, unknown fields {sorted(extra)}; "
                           f"an entry has exactly {sorted(_FIELDS)} and optionally {sorted(_OPTIONAL)}")
    if not isinstance(raw["id"], str) or not ARXIV_ID.match(raw["id"]):
        raise LibraryError(f"{where}: the id must be a quoted new-style arXiv id like \"2312.00752\"")
    unknown = [t for t in raw["tags"] if t not in vocabulary]
    if not raw["tags"] or unknown:
        raise LibraryError(f"{where}: tags {unknown or '[]'} are not in the library's vocabulary; "
                           f"use some of {sorted(vocabulary)} or extend `vocabulary`")
    n = len(sentences(raw["summary"]))
    if not 2 <= n <= 4:
        raise LibraryError(f"{where}: the summary has {n} sentences; write 2-4 in your own words")
    if not isinstance(raw["year"], int) or not 1990 <= raw["year"] <= 2100:
        raise LibraryError(f"{where}: year {raw['year']!r} must be a four-digit integer")
    return Paper(id=raw["id"], title=str(raw["title"]).strip(), year=raw["year"], tags=tuple(raw["tags"]),
                 summary=" ".join(str(raw["summary"]).split()), verified_by=tuple(raw.get("verified_by") or ()))


def parse_library(text: str, min_papers: int = MIN_PAPERS) -> Library:
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: 10x faster
    if not isinstance(data, dict) or not {"vocabulary", "papers", "seed_papers"} <= data.keys():
        raise LibraryError(f"{PAPERS_FILE.name} must be a mapping with vocabulary, seed_papers and papers")
    vocabulary = tuple(data["vocabulary"])
    papers = tuple(_paper(raw, i, set(vocabulary)) for i, raw in enumerate(data["papers"]))
    seen: set[str] = set()
    for p in papers:
        if p.id in seen:
            raise LibraryError(f"{PAPERS_FILE.name}: arXiv id {p.id} appears twice; keep one entry")
        seen.add(p.id)
    if len(papers) < min_papers:
        raise LibraryError(f"{PAPERS_FILE.name} has {len(papers)} papers; the library needs at least {min_papers}")
    seeds = {name: tuple(ids) for name, ids in data["seed_papers"].items()}
    for name, ids in seeds.items():
        absent = [i for i in ids if i not in seen]
        if absent:
            raise LibraryError(f"seed_papers[{name}] names {absent}, which have no entry; add them to papers")
    return Library(papers=papers, vocabulary=vocabulary, seed_papers=seeds)


@functools.lru_cache(maxsize=1)
def load_library() -> Library:
    """The shipped library (parsed and validated once per process)."""
    return parse_library(PAPERS_FILE.read_text(encoding="utf-8"))
