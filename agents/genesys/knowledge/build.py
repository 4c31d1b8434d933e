"""The library's precomputed embeddings: `library/embeddings.npy` (float16, one unit row per paper,
in library order) and `library/embeddings.json` (model, model hash, library hash, ids).

    python -m genesys.knowledge.build           # rewrite both after editing papers.yaml
    python -m genesys.knowledge.build --check   # exit 1 when they are stale (CI)

`load_embeddings` refuses stale files: a library edit or another model would silently mix vectors
from two spaces, so the message says to rebuild instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from genesys.knowledge import embed
from genesys.knowledge.papers import LIBRARY_DIR, Library, load_library

EMBEDDINGS_FILE = LIBRARY_DIR / "embeddings.npy"
META_FILE = LIBRARY_DIR / "embeddings.json"
REBUILD = "run `python -m genesys.knowledge.build` to recompute them"


class StaleEmbeddings(RuntimeError):
    """The shipped embeddings were not computed from this library with this model."""


def read_meta(path: Path = META_FILE) -> dict:
    if not path.is_file():
        raise StaleEmbeddings(f"no embeddings metadata at {path}; {REBUILD}")
    return json.loads(path.read_text(encoding="utf-8"))


def drift(library: Library, model_hash: str | None = None, meta_path: Path = META_FILE) -> list[str]:
    """Why the shipped embeddings do not match (empty when they do). model_hash None: not checked."""
    meta = read_meta(meta_path)
    problems = []
    if meta.get("library_sha256") != library.content_hash():
        problems.append(f"the library changed (hash {library.content_hash()[:12]}, embeddings were made "
                        f"from {str(meta.get('library_sha256'))[:12]})")
    if meta.get("ids") != [p.id for p in library.papers]:
        problems.append("the embeddings' paper ids differ from the library's (order or membership)")
    if model_hash is not None and meta.get("model_sha256") != model_hash:
        problems.append(f"the embedding model changed (hash {model_hash[:12]}, embeddings were made with "
                        f"{str(meta.get('model_sha256'))[:12]})")
    return problems


def load_embeddings(library: Library | None = None, check_model: bool = False,
                    npy_path: Path = EMBEDDINGS_FILE, meta_path: Path = META_FILE) -> np.ndarray:
    """The shipped vectors as float32 (N x 384), after checking they belong to `library`.

    check_model hashes the installed model's files (~0.2 s) and compares that too; queries are
    embedded with the installed model, so a mismatch there means two vector spaces."""
    library = library or load_library()
    problems = drift(library, embed.model_hash() if check_model else None, meta_path)
    if problems:
        raise StaleEmbeddings(f"the shipped embeddings ({npy_path}) are stale: {'; '.join(problems)}; {REBUILD}")
    vectors = np.load(npy_path).astype(np.float32)
    if vectors.shape != (len(library), embed.DIM):
        raise StaleEmbeddings(f"{npy_path} has shape {vectors.shape}, expected ({len(library)}, {embed.DIM}); "
                              f"{REBUILD}")
    return vectors


def build(library: Library | None = None, npy_path: Path = EMBEDDINGS_FILE, meta_path: Path = META_FILE) -> dict:
    library = library or load_library()
    vectors = embed.embed([p.embedding_text() for p in library.papers])
    np.save(npy_path, vectors.astype(np.float16))
    meta = {
        "model": embed.MODEL_NAME,
        "model_package": embed.MODEL_PACKAGE,
        "model_sha256": embed.model_hash(),
        "library_sha256": library.content_hash(),
        "dim": embed.DIM,
        "dtype": "float16",
        "normalized": True,
        "ids": [p.id for p in library.papers],
    }
    meta_path.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genesys.knowledge.build", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report whether the embeddings are stale")
    args = parser.parse_args(argv)
    library = load_library()
    if args.check:
        try:
            problems = drift(library, embed.model_hash())
        except StaleEmbeddings as e:
            problems = [str(e)]
        for p in problems:
            print(f"stale: {p}", file=sys.stderr)
        if problems:
            print(REBUILD, file=sys.stderr)
        return 1 if problems else 0
    meta = build(library)
    print(f"embedded {len(meta['ids'])} papers -> {EMBEDDINGS_FILE} (library {meta['library_sha256'][:12]}, "
          f"model {meta['model_sha256'][:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
