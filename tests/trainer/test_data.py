"""Packed training batches: packing, determinism, rank shards, resume, sources, held-out."""

from __future__ import annotations

import io
import json
import re
import time
from itertools import pairwise

import pytest
import torch

from genesys.trainer.data import (
    DataConfig,
    DataSourceError,
    PackedBatches,
    heldout_documents,
    is_heldout,
    paper_data,
    resolve_source,
)
from genesys.trainer.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tok(_cache):
    return load_tokenizer("embedded-bpe")


WORDS = "river stone light garden window morning silver paper thunder candle".split()


def numbered_docs(n: int) -> list[str]:
    """Documents whose text starts with a unique tag, to trace them through packing."""
    return [f"doc{i:04d} " + " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(5 + i % 11)) for i in range(n)]


@pytest.fixture(scope="module")
def jsonl_docs(tmp_path_factory):
    docs = numbered_docs(120)
    path = tmp_path_factory.mktemp("jsonl") / "docs.jsonl"
    path.write_text("".join(json.dumps({"text": d, "meta": i}) + "\n" for i, d in enumerate(docs)))
    return path, docs


def take(loader, n):
    return [next(loader) for _ in range(n)]


def stream_of(batches) -> list[int]:
    """The token stream behind consecutive batches (rows overlap by one token)."""
    out: list[int] = []
    for batch in batches:
        for row in batch.tolist():
            out.extend(row if not out else row[1:])
    return out


def documents_in(batches, tok) -> list[str]:
    """Whole documents seen (EOS on both sides), in order."""
    stream = stream_of(batches)
    eos = [i for i, t in enumerate(stream) if t == tok.eos_id]
    return [tok.decode(stream[a + 1 : b]) for a, b in pairwise(eos)]


def tags_in(batches, tok) -> list[str]:
    return re.findall(r"doc\d{4}", tok.decode(stream_of(batches)))


def test_embedded_batches_are_full_packed_rows_with_eos_separators(tok):
    cfg = DataConfig(seq_len=64, batch_size=4)
    batches = take(PackedBatches(cfg, tok), 30)
    for b in batches:
        assert b.dtype == torch.long and b.shape == (4, 65)
        assert int(b.min()) >= 0 and int(b.max()) < tok.vocab_size
    rows = [row for b in batches for row in b.tolist()]
    assert all(r1[-1] == r2[0] for r1, r2 in pairwise(rows))  # one-token overlap: no transition lost
    stream = stream_of(batches)
    assert stream[0] == tok.eos_id  # every document is preceded by EOS
    assert stream.count(tok.eos_id) >= 3
    train_texts = set(json.loads(line)["text"] for line in open(_embedded_train_path()))
    assert all(doc in train_texts for doc in documents_in(batches, tok))


def _embedded_train_path():
    from genesys.trainer.corpus import write_split

    return write_split().train


def test_packing_reconstructs_whole_documents_without_padding(tok, jsonl_docs):
    path, docs = jsonl_docs
    cfg = DataConfig(source=str(path), seq_len=16, batch_size=3, heldout_fraction=0.0)
    batches = take(PackedBatches(cfg, tok), 40)
    seen = documents_in(batches, tok)
    assert len(seen) > 20
    assert all(d in docs for d in seen)  # exact documents, nothing padded or cut inside
    expected_eos = len(seen) + 1  # separators around the whole documents seen
    assert stream_of(batches).count(tok.eos_id) >= expected_eos


def test_same_seed_same_batches_other_seed_other_batches(tok, jsonl_docs):
    path, _ = jsonl_docs
    cfg = DataConfig(source=str(path), seq_len=32, batch_size=2, seed=3)
    a, b = take(PackedBatches(cfg, tok), 5), take(PackedBatches(cfg, tok), 5)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    c = take(PackedBatches(DataConfig(source=str(path), seq_len=32, batch_size=2, seed=4), tok), 5)
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("streaming", [False, True])
def test_ranks_read_disjoint_documents_that_cover_the_corpus(tok, jsonl_docs, streaming):
    path, docs = jsonl_docs
    cfg = DataConfig(source=str(path), seq_len=8, batch_size=2, heldout_fraction=0.0, streaming=streaming,
                     shuffle_buffer=0)
    loaders = [PackedBatches(cfg, tok, rank=r, world_size=3) for r in range(3)]
    per_rank = []
    for loader in loaders:
        batches, tags = [], []
        while len(tags) == len(set(tags)):  # an epoch has no repeats; the next starts with one
            batches.append(next(loader))
            tags = tags_in(batches, tok)
        first_repeat = next(i for i, t in enumerate(tags) if t in tags[:i])
        per_rank.append(set(tags[:first_repeat]))
    assert all(per_rank)
    assert not (per_rank[0] & per_rank[1] or per_rank[0] & per_rank[2] or per_rank[1] & per_rank[2])
    assert set.union(*per_rank) == {d[:7] for d in docs}


def _round_trip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)  # what a checkpoint loader uses by default


@pytest.mark.parametrize(
    "kind", ["embedded", "local", "local-streaming", "local-streaming-2ranks"]
)
def test_resume_from_state_dict_yields_exactly_the_next_batches(tok, jsonl_docs, kind):
    path, _ = jsonl_docs
    rank, world = 0, 1
    if kind == "embedded":
        cfg = DataConfig(seq_len=32, batch_size=2, seed=5)
    else:
        # small rows over a small corpus: the 25 batches cross epoch boundaries
        cfg = DataConfig(source=str(path), seq_len=24, batch_size=4, seed=5, shuffle_buffer=0,
                         streaming="streaming" in kind)
        if kind.endswith("2ranks"):
            rank, world = 1, 2
    first = PackedBatches(cfg, tok, rank=rank, world_size=world)
    take(first, 7)
    state = _round_trip(first.state_dict())
    expected = take(first, 25)
    resumed = PackedBatches(cfg, tok, rank=rank, world_size=world)
    resumed.load_state_dict(state)
    got = take(resumed, 25)
    assert all(torch.equal(x, y) for x, y in zip(expected, got, strict=True))
    assert resumed.batches == first.batches == 32
    if kind == "local":
        assert first._docs.epoch >= 1


def test_streaming_with_a_shuffle_buffer_shuffles_and_resumes(tok, jsonl_docs):
    path, docs = jsonl_docs
    cfg = DataConfig(source=str(path), seq_len=16, batch_size=2, streaming=True, shuffle_buffer=50,
                     heldout_fraction=0.0)
    tags = tags_in(take(PackedBatches(cfg, tok), 10), tok)
    assert tags != sorted(tags)  # the buffer shuffled the file order
    loader = PackedBatches(cfg, tok)
    take(loader, 3)
    resumed = PackedBatches(cfg, tok)
    resumed.load_state_dict(_round_trip(loader.state_dict()))
    assert next(resumed).shape == (2, 17)  # buffered documents may be skipped, never repeated


def test_load_state_dict_refuses_a_different_config(tok, jsonl_docs):
    path, _ = jsonl_docs
    state = PackedBatches(DataConfig(source=str(path), seq_len=16), tok).state_dict()
    other = PackedBatches(DataConfig(source=str(path), seq_len=16, seed=9), tok)
    with pytest.raises(DataSourceError, match="seed"):
        other.load_state_dict(state)


def test_local_txt_files_are_one_document_each_and_globs_mix_with_jsonl(tok, tmp_path, jsonl_docs):
    jsonl_path, _ = jsonl_docs
    books = tmp_path / "books"
    books.mkdir()
    texts = [f"book{i} begins.\n\nIt has two paragraphs, the second about {WORDS[i]}.\n" for i in range(6)]
    for i, t in enumerate(texts):
        (books / f"b{i}.txt").write_text(t)
    cfg = DataConfig(source=str(books / "*.txt"), seq_len=16, batch_size=2, heldout_fraction=0.0)
    seen = documents_in(take(PackedBatches(cfg, tok), 12), tok)
    assert seen and all(d in texts for d in seen)  # whole files, blank lines included
    assert resolve_source(DataConfig(source=str(books))).files == resolve_source(cfg).files  # a directory
    both = DataConfig(source=f"{books}/*.txt,{jsonl_path}", seq_len=16, batch_size=2)
    assert resolve_source(both).kind == "local" and len(resolve_source(both).files) == 7
    assert next(PackedBatches(both, tok)).shape == (2, 17)


def test_jsonl_text_field_is_configurable(tok, tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"body": d}) + "\n" for d in numbered_docs(10)))
    cfg = DataConfig(source=str(path), text_field="body", seq_len=8, batch_size=1, heldout_fraction=0.0)
    assert tags_in(take(PackedBatches(cfg, tok), 5), tok)
    with pytest.raises(DataSourceError, match="text_field"):
        PackedBatches(DataConfig(source=str(path), seq_len=8), tok)


def test_heldout_documents_never_reach_training(tok, jsonl_docs):
    path, docs = jsonl_docs
    cfg = DataConfig(source=str(path), seq_len=16, batch_size=4, heldout_fraction=0.25)
    held = heldout_documents(cfg)
    assert held == [d for d in docs if is_heldout(d, 0.25)] and 10 < len(held) < 50
    loader = PackedBatches(cfg, tok)
    batches = []
    while loader._docs.epoch < 2:
        batches.append(next(loader))
    seen = set(tags_in(batches, tok))
    assert seen == {d[:7] for d in docs} - {d[:7] for d in held}


def test_embedded_heldout_documents_are_the_corpus_heldout_split():
    from genesys.trainer.corpus import embedded_corpus, split_documents

    _, held = split_documents(embedded_corpus())
    assert heldout_documents(DataConfig()) == [d.text for d in held]
    assert len(heldout_documents(DataConfig(), max_documents=10)) == 10


@pytest.mark.parametrize("call", ["loader", "heldout"])
def test_hub_dataset_offline_fails_fast_and_names_the_fix(tok, call):
    cfg = paper_data()
    assert resolve_source(cfg).kind == "hub"
    start = time.perf_counter()
    with pytest.raises(DataSourceError) as err:
        PackedBatches(cfg, tok) if call == "loader" else heldout_documents(cfg)
    assert time.perf_counter() - start < 5
    msg = str(err.value)
    assert "HuggingFaceTB/smollm-corpus" in msg and "HF_HUB_OFFLINE" in msg and "embedded" in msg


def test_bad_sources_say_what_to_do(tok, tmp_path):
    with pytest.raises(DataSourceError, match="no file matches"):
        PackedBatches(DataConfig(source=str(tmp_path / "missing.jsonl")), tok)
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(DataSourceError, match="neither .txt nor .jsonl"):
        resolve_source(DataConfig(source=str(tmp_path / "*.csv")))
    one = tmp_path / "one.txt"
    one.write_text("only one document here")
    with pytest.raises(DataSourceError, match="world_size"):
        PackedBatches(DataConfig(source=str(one), heldout_fraction=0.0), tok, rank=1, world_size=2)
    with pytest.raises(DataSourceError, match="rank"):
        PackedBatches(DataConfig(), tok, rank=2, world_size=2)
    with pytest.raises(DataSourceError, match="seq_len"):
        DataConfig(seq_len=0)
