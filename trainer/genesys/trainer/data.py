"""Training data: documents -> tokens -> packed (batch, seq_len + 1) LongTensor batches.

Sources (:class:`DataConfig.source`):

- ``"embedded"``: the public-domain corpus shipped with genesys-lm (see
  :mod:`genesys.trainer.corpus`), train side of its fixed split.
- local files: a path, a glob, a directory, or several of them (comma-separated or a tuple) of
  ``.jsonl``/``.json`` (one document per line, text in ``text_field``) or ``.txt``
  (one document per file), optionally compressed (``.gz``, ``.xz``, ``.zst``, ``.bz2``).
- anything else: a Hugging Face hub dataset name, streamed with
  ``datasets.load_dataset(name, hub_config, split=..., streaming=True)``. The paper's
  data is :func:`paper_data` (SmolLM corpus, fineweb-edu-dedup); it needs a reachable
  hub, and fails at once with a message naming the fix when ``HF_HUB_OFFLINE`` or
  ``HF_DATASETS_OFFLINE`` is set.

Packing: every document is tokenized, preceded by EOS (so documents are separated by
EOS and every document's first token is predicted from EOS, as lm-eval's rolling
loglikelihood does), and appended to one token stream per rank. Rows are consecutive
windows of ``seq_len + 1`` tokens that overlap by one token (inputs ``row[:-1]``,
targets ``row[1:]``), so every next-token transition of the stream is trained exactly
once and no row is ever padded; a document that does not fit is carried into the next
row. The stream is infinite: after the last document, the next epoch starts with a new
shuffle.

Determinism and sharding: documents are dealt to ranks once, with ``seed``; rank ``r``
of ``world_size`` reads only its own shard (disjoint across ranks), in a new seeded
order each epoch. Streamed sources use `datasets`' ``split_dataset_by_node`` (whole
shards per rank when they divide evenly, else every ``world_size``-th document).
:meth:`PackedBatches.state_dict` captures the exact position (epoch, document index,
carried tokens) so a restarted run yields exactly the same next batch. For streamed
sources the position is `datasets`' own iterable state: exact when
``shuffle_buffer == 0``; with a shuffle buffer, the documents that sat in the buffer
at checkpoint time are skipped on resume (a documented `datasets` limitation).

Held-out text: :func:`heldout_documents` returns documents the training stream never
yields: the embedded corpus's held-out side, or for other sources the documents whose
text hash falls under ``heldout_fraction`` (or the ``heldout_split`` of a hub dataset).
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genesys.trainer.corpus import cache_dir, iter_jsonl_texts, write_split
from genesys.trainer.tokenizer import TextTokenizer, load_tokenizer

SMOLLM_CORPUS = "HuggingFaceTB/smollm-corpus"
_TEXT_SUFFIXES = (".txt",)
_JSON_SUFFIXES = (".jsonl", ".json")
_COMPRESSION = ("", ".gz", ".xz", ".zst", ".bz2")
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


class DataSourceError(ValueError):
    """A data source that cannot be read; the message names the field and the fix."""


@dataclass(frozen=True)
class DataConfig:
    # "embedded" | local path(s)/glob(s) (comma-separated or tuple) | hub dataset name
    source: str | tuple[str, ...] = "embedded"
    # tokenizer spec for load_tokenizer: "embedded-bpe[-V]", a tokenizer.json, or an HF name
    tokenizer: str = "embedded-bpe"
    seq_len: int = 256  # tokens of context; rows hold seq_len + 1 tokens (inputs + shifted targets)
    batch_size: int = 8  # rows per batch, per rank
    seed: int = 0  # document shuffle seed (the held-out split does not depend on it)
    hub_config: str | None = None  # hub dataset config name, e.g. "fineweb-edu-dedup"
    split: str = "train"  # hub dataset split to train on
    text_field: str = "text"  # JSONL / hub column holding the document text
    # fraction of documents held out of training (local and hub sources; hashed on the
    # text). The embedded corpus always uses its fixed split (corpus.DEFAULT_HELDOUT_FRACTION).
    heldout_fraction: float = 0.01
    heldout_split: str | None = None  # hub: take held-out documents from this split instead
    heldout_max_documents: int = 2000  # cap on what heldout_documents() returns for streamed sources
    streaming: bool = False  # local files: stream them instead of loading Arrow tables (hub: always streamed)
    shuffle_buffer: int = 10_000  # streamed sources: documents in datasets' shuffle buffer (0: exact resume)

    def __post_init__(self) -> None:
        if self.seq_len < 1 or self.batch_size < 1:
            raise DataSourceError(f"seq_len and batch_size must be >= 1, got {self.seq_len}, {self.batch_size}")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise DataSourceError(f"heldout_fraction must be in [0, 1), got {self.heldout_fraction}")


def paper_data(**overrides: Any) -> DataConfig:
    """The paper's data: SmolLM corpus (fineweb-edu-dedup) streamed from the hub, context 2048."""
    base = DataConfig(
        source=SMOLLM_CORPUS,
        hub_config="fineweb-edu-dedup",
        tokenizer="HuggingFaceTB/SmolLM-135M",
        seq_len=2048,
        heldout_fraction=0.001,
    )
    return replace(base, **overrides)


# ----------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class Source:
    """What ``DataConfig.source`` names."""

    kind: str  # "embedded" | "local" | "hub"
    files: tuple[str, ...] = ()


def resolve_source(config: DataConfig) -> Source:
    """Classify ``config.source`` and expand local globs (sorted, so order is stable)."""
    entries = config.source if isinstance(config.source, tuple) else tuple(config.source.split(","))
    entries = tuple(e.strip() for e in entries if e.strip())
    if not entries:
        raise DataSourceError("DataConfig.source is empty: use 'embedded', local .txt/.jsonl paths, or a hub name")
    if entries == ("embedded",):
        return Source("embedded")
    if len(entries) == 1 and not _looks_local(entries[0]):
        return Source("hub", entries)
    files: list[str] = []
    for entry in entries:
        path = Path(entry).expanduser()
        if path.is_dir():  # a directory: every .txt/.jsonl file below it
            matches = sorted(str(p) for p in path.rglob("*") if p.is_file() and _suffix_kind(str(p)))
        else:
            matches = sorted(m for m in glob.glob(str(path), recursive=True) if os.path.isfile(m))
        if not matches:
            raise DataSourceError(
                f"DataConfig.source: no file matches {entry!r}; give existing .txt/.jsonl paths or globs")
        bad = [m for m in matches if _suffix_kind(m) is None]
        if bad:
            raise DataSourceError(
                f"DataConfig.source: {bad[0]!r} is neither .txt nor .jsonl/.json (optionally .gz/.xz/.zst/.bz2)"
            )
        files.extend(matches)
    return Source("local", tuple(dict.fromkeys(files)))


def _suffix_kind(path: str) -> str | None:
    lower = path.lower()
    for comp in _COMPRESSION:
        if any(lower.endswith(s + comp) for s in _TEXT_SUFFIXES):
            return "text"
        if any(lower.endswith(s + comp) for s in _JSON_SUFFIXES):
            return "json"
    return None


def _looks_local(entry: str) -> bool:
    return (
        any(c in entry for c in "*?[")
        or _suffix_kind(entry) is not None
        or os.path.exists(os.path.expanduser(entry))
        or entry.startswith((".", "/", "~"))
    )


def _hub_offline() -> str | None:
    for var in _OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return var
    return None


def _load_hub(config: DataConfig, split: str) -> Any:
    name = config.source if isinstance(config.source, str) else config.source[0]
    var = _hub_offline()
    if var:
        raise DataSourceError(
            f"DataConfig.source={name!r} is a Hugging Face hub dataset, but the hub is switched off "
            f"({var}={os.environ[var]}). Use source='embedded' (the corpus shipped with genesys-lm) or "
            f"local .txt/.jsonl files, or unset {', '.join(_OFFLINE_VARS)} on a machine that reaches the hub."
        )
    import datasets

    try:
        return datasets.load_dataset(name, config.hub_config, split=split, streaming=True)
    except Exception as e:  # noqa: BLE001 - re-raised with the fix
        raise DataSourceError(
            f"could not open hub dataset {name!r} (config {config.hub_config!r}, split {split!r}): "
            f"{type(e).__name__}: {e}. Check the name/config/split and network access to the hub, "
            "or use source='embedded' or local files."
        ) from e


def _load_local(files: tuple[str, ...], text_field: str, streaming: bool) -> Any:
    """Local files as one `datasets` dataset with a single ``text`` column, in file order."""
    import datasets

    datasets.disable_progress_bars()
    parts = []
    for kind in ("json", "text"):
        kind_files = [f for f in files if _suffix_kind(f) == kind]
        if not kind_files:
            continue
        kwargs: dict[str, Any] = {"sample_by": "document"} if kind == "text" else {}
        if not streaming:
            kwargs["cache_dir"] = str(cache_dir() / "hf-datasets")
        ds = datasets.load_dataset(kind, data_files=kind_files, split="train", streaming=streaming, **kwargs)
        field = "text" if kind == "text" else text_field
        if field not in (ds.column_names or [field]):
            raise DataSourceError(
                f"{kind_files[0]!r} has no field {field!r} (columns: {ds.column_names}); set DataConfig.text_field"
            )
        ds = ds.select_columns([field])
        if field != "text":
            ds = ds.rename_column(field, "text")
        parts.append(ds)
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def is_heldout(text: str, fraction: float) -> bool:
    """Stable held-out membership by text hash (same answer on every machine and run)."""
    if fraction <= 0:
        return False
    h = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    return h < fraction * 2**64


# ----------------------------------------------------------------------------- documents
class _IndexedDocuments:
    """Map-style documents: this rank's fixed shard in a new seeded order each epoch; O(1) resume."""

    def __init__(self, ds: Any, keep: np.ndarray, seed: int, rank: int, world_size: int):
        self._ds, self._seed, self._rank = ds, seed, rank
        if len(keep) < world_size:
            raise DataSourceError(
                f"the source has {len(keep)} training documents, fewer than world_size={world_size}; "
                "add documents (or split big .txt files into several files / JSONL lines)"
            )
        # this rank's shard: fixed for the run (a seeded deal of all documents); each
        # epoch then visits it in a new seeded order
        self._shard = keep[np.random.default_rng(seed).permutation(len(keep))][rank::world_size]
        self.epoch, self.position = 0, 0
        self._order = self._epoch_order(0)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self._seed, self._rank, epoch])
        return self._shard[rng.permutation(len(self._shard))]

    def next(self) -> str:
        if self.position >= len(self._order):
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._epoch_order(self.epoch)
        text = self._ds[int(self._order[self.position])]["text"]
        self.position += 1
        return text

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._epoch_order(self.epoch)


class _StreamedDocuments:
    """Iterable (streamed) documents; the position is `datasets`' iterable state."""

    def __init__(self, ds: Any):
        self._ds, self._it = ds, None

    def next(self) -> str:
        empty_epochs = 0
        while empty_epochs < 2:
            if self._it is None:
                self._it = iter(self._ds)
            for example in self._it:
                if example["text"]:
                    return example["text"]
            self._ds.set_epoch(self._ds.epoch + 1)  # next epoch: new shuffle
            self._it = None
            empty_epochs += 1
        raise DataSourceError("the streamed source yielded no training documents for this rank")

    def state_dict(self) -> dict:
        return {"dataset": self._ds.state_dict(), "epoch": self._ds.epoch}

    def load_state_dict(self, state: dict) -> None:
        self._ds.set_epoch(int(state["epoch"]))
        self._ds.load_state_dict(state["dataset"])
        self._it = None


def _training_documents(config: DataConfig, rank: int, world_size: int) -> _IndexedDocuments | _StreamedDocuments:
    source = resolve_source(config)
    if source.kind == "hub":
        ds = _load_hub(config, config.split).select_columns([config.text_field])
        if config.text_field != "text":
            ds = ds.rename_column(config.text_field, "text")
        fraction = 0.0 if config.heldout_split is not None else config.heldout_fraction
        return _StreamedDocuments(_prepare_stream(ds, config, fraction, rank, world_size))
    # embedded: the held-out side is already apart, on disk (corpus.write_split)
    files = (str(write_split().train),) if source.kind == "embedded" else source.files
    fraction = 0.0 if source.kind == "embedded" else config.heldout_fraction
    if config.streaming:
        ds = _load_local(files, config.text_field, streaming=True)
        return _StreamedDocuments(_prepare_stream(ds, config, fraction, rank, world_size))
    ds = _load_local(files, config.text_field, streaming=False)
    keep = np.array(
        [i for i, t in enumerate(_iter_column(ds)) if t and not is_heldout(t, fraction)],
        dtype=np.int64,
    )
    return _IndexedDocuments(ds, keep, config.seed, rank, world_size)


def _prepare_stream(ds: Any, config: DataConfig, fraction: float, rank: int, world_size: int) -> Any:
    """Drop held-out documents, shuffle (shard order + buffer) with the seed, keep this rank's part."""
    from datasets.distributed import split_dataset_by_node

    if fraction > 0:
        ds = ds.filter(lambda ex: not is_heldout(ex["text"], fraction))
    if config.shuffle_buffer > 0:
        ds = ds.shuffle(seed=config.seed, buffer_size=config.shuffle_buffer)
    return split_dataset_by_node(ds, rank=rank, world_size=world_size)


def _iter_column(ds: Any, batch: int = 1024) -> Iterator[str]:
    for rows in ds.iter(batch_size=batch):
        yield from rows["text"]


def heldout_documents(config: DataConfig, max_documents: int | None = None) -> list[str]:
    """Documents the training stream never yields, in a stable order (for held-out loss and eval tasks)."""
    source = resolve_source(config)
    if source.kind == "embedded":
        texts = list(iter_jsonl_texts(write_split().heldout))
    elif source.kind == "local":
        ds = _load_local(source.files, config.text_field, streaming=config.streaming)
        texts = [t for t in _iter_column(ds) if t and is_heldout(t, config.heldout_fraction)]
    else:
        limit = max_documents or config.heldout_max_documents
        split = config.heldout_split or config.split
        ds = _load_hub(config, split)
        texts = []
        for ex in ds:
            t = ex[config.text_field]
            if config.heldout_split is not None or is_heldout(t, config.heldout_fraction):
                texts.append(t)
                if len(texts) >= limit:
                    break
    return texts[:max_documents] if max_documents else texts


# ----------------------------------------------------------------------------- batches
class PackedBatches:
    """Infinite iterator of packed ``(batch_size, seq_len + 1)`` LongTensor batches for one rank.

    ``state_dict()`` / ``load_state_dict()`` make it resumable: load the state saved
    after batch k into a fresh loader with the same config, rank and world size, and
    its next batch is batch k + 1, bit for bit.
    """

    def __init__(
        self,
        config: DataConfig,
        tokenizer: TextTokenizer | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        if not 0 <= rank < world_size:
            raise DataSourceError(f"rank must be in [0, world_size), got rank={rank}, world_size={world_size}")
        self.config, self.rank, self.world_size = config, rank, world_size
        self.tokenizer = tokenizer or load_tokenizer(config.tokenizer)
        self._docs = _training_documents(config, rank, world_size)
        self._buffer: list[int] = []  # tokens not yet emitted; the first one may repeat the previous row's last
        self.batches = 0  # batches yielded so far
        self.tokens = 0  # target tokens yielded so far (batch * seq_len per batch)

    def __iter__(self) -> PackedBatches:
        return self

    def __next__(self) -> torch.Tensor:
        row_len, eos = self.config.seq_len + 1, self.tokenizer.eos_id
        rows = np.empty((self.config.batch_size, row_len), dtype=np.int64)
        for r in range(self.config.batch_size):
            while len(self._buffer) < row_len:
                self._buffer.append(eos)
                self._buffer.extend(self.tokenizer.encode(self._docs.next()))
            rows[r] = self._buffer[:row_len]
            del self._buffer[: row_len - 1]  # the row's last token starts the next row
        self.batches += 1
        self.tokens += self.config.batch_size * self.config.seq_len
        return torch.from_numpy(rows)  # (B, T + 1)

    def state_dict(self) -> dict:
        return {
            "config": _fingerprint(self.config, self.tokenizer, self.rank, self.world_size),
            "documents": self._docs.state_dict(),
            "buffer": list(self._buffer),
            "batches": self.batches,
            "tokens": self.tokens,
        }

    def load_state_dict(self, state: dict) -> None:
        expected = _fingerprint(self.config, self.tokenizer, self.rank, self.world_size)
        if state["config"] != expected:
            diff = {k: (state["config"].get(k), v) for k, v in expected.items() if state["config"].get(k) != v}
            raise DataSourceError(
                f"data state was saved with a different data config (saved, now): {diff}; resume with the "
                "same data config, rank and world size, or start the data stream fresh"
            )
        self._docs.load_state_dict(state["documents"])
        self._buffer = [int(t) for t in state["buffer"]]
        self.batches, self.tokens = int(state["batches"]), int(state["tokens"])


def _fingerprint(config: DataConfig, tokenizer: TextTokenizer, rank: int, world_size: int) -> dict:
    fields = asdict(config)
    fields["source"] = list(config.source) if isinstance(config.source, tuple) else config.source
    fields.pop("heldout_max_documents")
    return fields | {"tokenizer_name": tokenizer.name, "vocab_size": tokenizer.vocab_size,
                     "rank": rank, "world_size": world_size}
