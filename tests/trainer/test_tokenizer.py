"""Tokenizers: the embedded byte-level BPE (trained once, cached) and the HF-name path."""

from __future__ import annotations

import sys
import time

import pytest

from genesys.trainer import tokenizer as tk
from genesys.trainer.tokenizer import EOS_TOKEN, TokenizerError, load_tokenizer


@pytest.fixture(scope="module")
def bpe(_cache):
    return load_tokenizer("embedded-bpe")


TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "HAMLET.\nTo be, or not to be: that is the question:\n\n  Whether 'tis nobler…",
    "“Curly quotes”, em—dashes, émigré, naïve, 東京, and an emoji 🚀.",
    "",
    "   leading and trailing spaces   \n\t",
]


def test_default_is_a_4096_byte_level_bpe_with_an_explicit_eos(bpe):
    assert bpe.name == "embedded-bpe-4096"
    assert bpe.vocab_size == 4096
    assert bpe.eos_id == 0
    assert bpe.decode([bpe.eos_id]) == EOS_TOKEN


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_is_lossless(bpe, text):
    ids = bpe.encode(text)
    assert all(0 <= i < bpe.vocab_size for i in ids)
    assert bpe.eos_id not in ids
    assert bpe.decode(ids) == text


def test_encode_batch_matches_encode_and_compresses_english(bpe):
    assert bpe.encode_batch(TEXTS) == [bpe.encode(t) for t in TEXTS]
    prose = TEXTS[0] * 20
    assert len(prose.encode()) / len(bpe.encode(prose)) > 3.0  # bytes per token


def test_second_load_reads_the_cache_instead_of_retraining(bpe, monkeypatch):
    path = tk.embedded_tokenizer_path(4096)
    assert path.exists()
    stamp = path.stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although tokenizer.json is cached")

    monkeypatch.setattr(tk, "train_bpe", no_training)
    start = time.perf_counter()
    again = load_tokenizer("embedded-bpe-4096")
    assert time.perf_counter() - start < 1.0
    assert path.stat().st_mtime_ns == stamp
    assert again.encode(TEXTS[1]) == bpe.encode(TEXTS[1])


def test_cache_key_includes_vocab_and_corpus_hash():
    a, b = tk.embedded_tokenizer_path(4096), tk.embedded_tokenizer_path(8192)
    assert a != b
    assert tk.corpus_hash() in str(a)


def test_training_is_deterministic():
    texts = [f"the quick brown fox {i} jumps over the lazy dog {i % 7}" for i in range(300)]
    assert tk.train_bpe(texts, 300).to_str() == tk.train_bpe(texts, 300).to_str()


def test_a_tokenizer_json_path_loads(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(tk.train_bpe(["hello world"] * 50, 270).to_str())
    tok = load_tokenizer(str(path))
    assert tok.vocab_size <= 270 and tok.eos_id == 0
    assert tok.decode(tok.encode("hello there")) == "hello there"


@pytest.mark.parametrize("spec", ["embedded-bpe-lots", "embedded-bpe-100"])
def test_bad_embedded_specs_say_what_to_write(spec):
    with pytest.raises(TokenizerError, match="embedded-bpe"):
        load_tokenizer(spec)


def test_hf_name_without_transformers_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails
    with pytest.raises(TokenizerError, match="pip install transformers") as err:
        load_tokenizer("gpt2")
    assert "embedded-bpe" in str(err.value)
