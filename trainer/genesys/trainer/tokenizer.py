"""Tokenizers: a byte-level BPE trained on the embedded corpus, or an HF tokenizer by name.

``load_tokenizer(spec)`` accepts:

- ``"embedded-bpe"`` or ``"embedded-bpe-<vocab>"``: a byte-level BPE (GPT-2 style
  pre-tokenization, lossless on any UTF-8 text) trained with the `tokenizers` library
  on the TRAIN side of the embedded corpus split. The default vocabulary is
  :data:`DEFAULT_VOCAB` = 4096: the cpu rungs have d_model 64-256, where a bigger
  table would dominate the parameter count and the output softmax; it gives ~3.5 bytes
  per token on the corpus (8192 gives ~3.8). Training takes ~2-4 s on 2 cores; the
  result is cached as ``<cache>/tokenizers/embedded-bpe-<vocab>-<corpus hash>/tokenizer.json``
  and later loads do not retrain.
- a path to a ``tokenizer.json`` file (any `tokenizers` tokenizer with an EOS token).
- any other string: a Hugging Face tokenizer name (e.g. ``"gpt2"``,
  ``"HuggingFaceTB/SmolLM-135M"``), loaded with ``transformers.AutoTokenizer``; needs
  `transformers` installed and a reachable hub (or a local HF cache).

Every tokenizer has an explicit end-of-text id (:attr:`TextTokenizer.eos_id`) that the
data loader puts between packed documents; the embedded BPE's is ``<|endoftext|>`` = 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genesys.trainer.corpus import (
    DEFAULT_HELDOUT_FRACTION,
    DEFAULT_SPLIT_SEED,
    atomic_write,
    cache_dir,
    corpus_hash,
    iter_jsonl_texts,
    write_split,
)

EOS_TOKEN = "<|endoftext|>"
DEFAULT_VOCAB = 4096
EMBEDDED_PREFIX = "embedded-bpe"
_EMBEDDED_RE = re.compile(r"^embedded-bpe(?:-(\d+))?$")
MIN_VOCAB = 257  # 256 byte symbols + EOS


class TokenizerError(ValueError):
    """A tokenizer spec that cannot be loaded; the message says what to do."""


@dataclass
class TextTokenizer:
    """The small interface the trainer and evaluation use, over any backend."""

    name: str
    eos_id: int
    vocab_size: int
    _backend: Any  # tokenizers.Tokenizer or a transformers tokenizer
    _kind: str  # "tokenizers" | "transformers"

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, without any special tokens added."""
        if self._kind == "tokenizers":
            return self._backend.encode(text, add_special_tokens=False).ids
        return self._backend.encode(text, add_special_tokens=False)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        if self._kind == "tokenizers":
            return [e.ids for e in self._backend.encode_batch(list(texts), add_special_tokens=False)]
        return self._backend(list(texts), add_special_tokens=False)["input_ids"]

    def decode(self, ids: Iterable[int]) -> str:
        return self._backend.decode(list(ids), skip_special_tokens=False)

    def __repr__(self) -> str:
        return f"TextTokenizer(name={self.name!r}, vocab_size={self.vocab_size}, eos_id={self.eos_id})"


def load_tokenizer(spec: str = EMBEDDED_PREFIX) -> TextTokenizer:
    """Load (training and caching first, for ``embedded-bpe[-V]``) the tokenizer ``spec``."""
    m = _EMBEDDED_RE.match(spec)
    if m:
        return load_embedded_bpe(int(m.group(1)) if m.group(1) else DEFAULT_VOCAB)
    if spec.startswith(EMBEDDED_PREFIX):
        raise TokenizerError(
            f"bad tokenizer spec {spec!r}: use 'embedded-bpe' (vocab {DEFAULT_VOCAB}) "
            "or 'embedded-bpe-<vocab>', e.g. 'embedded-bpe-8192'"
        )
    if spec.endswith(".json"):
        return _from_tokenizer_file(Path(spec))
    return _from_transformers(spec)


def embedded_tokenizer_path(vocab_size: int = DEFAULT_VOCAB) -> Path:
    """Where the embedded BPE of this vocabulary is cached (keyed by corpus hash and vocab)."""
    key = f"{EMBEDDED_PREFIX}-{vocab_size}-{corpus_hash()}-f{DEFAULT_HELDOUT_FRACTION:g}-s{DEFAULT_SPLIT_SEED}"
    return cache_dir() / "tokenizers" / key / "tokenizer.json"


def load_embedded_bpe(vocab_size: int = DEFAULT_VOCAB) -> TextTokenizer:
    """The byte-level BPE trained on the embedded corpus's train split, cached."""
    if vocab_size < MIN_VOCAB:
        raise TokenizerError(f"embedded-bpe vocab must be at least {MIN_VOCAB} (bytes + EOS), got {vocab_size}")
    path = embedded_tokenizer_path(vocab_size)
    if not path.exists():
        texts = iter_jsonl_texts(write_split().train)
        backend = train_bpe(texts, vocab_size)
        atomic_write(path, lambda f: f.write(backend.to_str()))
    return _wrap_tokenizers(_read_tokenizers_file(path), f"{EMBEDDED_PREFIX}-{vocab_size}")


def train_bpe(texts: Iterable[str], vocab_size: int) -> Any:
    """Train a byte-level BPE with ``<|endoftext|>`` as id 0; returns a `tokenizers.Tokenizer`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def _read_tokenizers_file(path: Path) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def _wrap_tokenizers(backend: Any, name: str) -> TextTokenizer:
    eos_id = backend.token_to_id(EOS_TOKEN)
    if eos_id is None:
        raise TokenizerError(f"tokenizer {name!r} has no {EOS_TOKEN} token; add it as a special token")
    return TextTokenizer(name=name, eos_id=eos_id, vocab_size=backend.get_vocab_size(), _backend=backend,
                         _kind="tokenizers")


def _from_tokenizer_file(path: Path) -> TextTokenizer:
    if not path.exists():
        raise TokenizerError(f"tokenizer file {path} does not exist")
    return _wrap_tokenizers(_read_tokenizers_file(path), str(path))


def _from_transformers(name: str) -> TextTokenizer:
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        raise TokenizerError(
            f"tokenizer {name!r} is a Hugging Face tokenizer name, which needs `transformers`: "
            "pip install transformers (cluster images have it), or use the offline default "
            f"'{EMBEDDED_PREFIX}' / '{EMBEDDED_PREFIX}-<vocab>'"
        ) from e
    try:
        backend = AutoTokenizer.from_pretrained(name)
    except Exception as e:  # noqa: BLE001 - re-raised with the fix
        raise TokenizerError(
            f"could not load Hugging Face tokenizer {name!r} ({type(e).__name__}: {e}). "
            "Check the name and that the hub is reachable (or the tokenizer is in the local HF "
            f"cache with HF_HUB_OFFLINE=1); offline, use '{EMBEDDED_PREFIX}'"
        ) from e
    eos_id = backend.eos_token_id
    if eos_id is None:
        raise TokenizerError(f"Hugging Face tokenizer {name!r} defines no eos_token; pick one that does")
    return TextTokenizer(name=name, eos_id=int(eos_id), vocab_size=len(backend), _backend=backend, _kind="transformers")
