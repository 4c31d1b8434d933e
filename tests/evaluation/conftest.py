"""Fakes for evaluation tests: a byte tokenizer, synthetic held-out prose, tiny models."""

from __future__ import annotations

import os
import random
from itertools import pairwise

# Evaluation must never reach a hub; set before lm_eval/datasets read their config.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest
import torch
from torch import nn

NAMES = ["Anna", "Boris", "Clara", "Daniel", "Edith", "Felix", "Greta", "Hugo", "Irene", "Jonas"]
PLACES = ["harbour", "market", "garden", "library", "station", "chapel", "meadow", "bakery", "bridge", "cellar"]
NOUNS = ["lantern", "basket", "letter", "violin", "blanket", "kettle", "ribbon", "compass", "candle", "mirror"]
ADJS = ["old", "small", "heavy", "bright", "quiet", "broken", "golden", "narrow", "gentle", "dusty"]
TEMPLATES = [
    "{name} walked to the {place} with a {adj} {noun}.",
    "The {adj} {noun} was left near the {place}.",
    "In the morning {name} found a {noun} by the {place}.",
    "Nobody knew why {name} kept the {noun} in the {place}.",
    "{name} said that the {noun} belonged to the {place}.",
    "After supper {name} carried the {adj} {noun} back to the {place}.",
    "Was the {noun} really hidden under the {place}?",
]


class ByteTokenizer:
    """Bytes as tokens, 256 as EOS: the smallest tokenizer that follows the protocol."""

    eos_id = 256
    vocab_size = 257

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


def synthetic_documents(n_docs: int = 80, n_sentences: int = 24, seed: int = 0) -> list[str]:
    """Stories over a small vocabulary; each reuses two names and three places, so
    last words recur in their context, as in real prose."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        names, places = rng.sample(NAMES, 2), rng.sample(PLACES, 3)
        sents = [
            rng.choice(TEMPLATES).format(
                name=rng.choice(names), place=rng.choice(places), noun=rng.choice(NOUNS), adj=rng.choice(ADJS)
            )
            for _ in range(n_sentences)
        ]
        sents = [s[0].upper() + s[1:] for s in sents]
        paras = [" ".join(sents[i : i + 4]) for i in range(0, len(sents), 4)]
        docs.append("\n\n".join(paras))
    return docs


class BigramOracle(nn.Module):
    """A 'cheating' model: byte bigram log-probabilities counted on the evaluation text itself."""

    def __init__(self, documents: list[str], vocab_size: int = 257, eos_id: int = 256):
        super().__init__()
        counts = torch.ones(vocab_size, vocab_size)
        for doc in documents:
            ids = [eos_id, *doc.encode("utf-8")]
            for a, b in pairwise(ids):
                counts[a, b] += 1
        self.table = nn.Parameter(counts.log() - counts.sum(-1, keepdim=True).log(), requires_grad=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.table[input_ids]  # (B, L, V)


@pytest.fixture
def tokenizer() -> ByteTokenizer:
    return ByteTokenizer()


@pytest.fixture(scope="session")
def documents() -> list[str]:
    return synthetic_documents()


@pytest.fixture
def oracle(documents) -> BigramOracle:
    return BigramOracle(documents)


@pytest.fixture
def tiny_model() -> nn.Module:
    from genesys.gau import build_lm, load_design

    torch.manual_seed(0)
    return build_lm(load_design("gpt2"), vocab_size=257, d_model=64, n_block=2).eval()
