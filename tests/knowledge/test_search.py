"""The local hybrid index: known queries find their paper, tags filter, BM25 and fusion behave."""

from __future__ import annotations

import numpy as np
import pytest

from genesys.knowledge.index import BM25, HybridIndex, fuse, tokenize

KNOWN = [
    ("selective state space model with input-dependent parameters", "2312.00752"),  # Mamba
    ("rotary position embedding", "2104.09864"),  # RoFormer
    ("retention mechanism parallel recurrent chunkwise", "2307.08621"),  # RetNet
    ("state space duality between SSMs and masked linear attention", "2405.21060"),  # Mamba-2
    ("RNN whose hidden state is a model trained by self-supervised gradient steps at test time", "2407.04620"),
    ("RWKV with matrix-valued states and data-dependent decay", "2404.05892"),  # Eagle/Finch (RWKV-6)
    ("attention with linear biases for length extrapolation", "2108.12409"),  # ALiBi
    ("normalize by the root mean square without re-centering", "1910.07467"),  # RMSNorm
    ("implicit long convolutions with data-controlled gating instead of attention", "2302.10866"),  # Hyena
    ("delta rule linear transformer parallel training WY representation", "2406.06484"),  # DeltaNet
    ("hybrid of Mamba and attention layers with mixture-of-experts MLPs", "2403.19887"),  # Jamba
    ("top-1 routing to a single expert with a capacity factor", "2101.03961"),  # Switch
    ("IO-aware exact attention that tiles the computation in SRAM", "2205.14135"),  # FlashAttention
    ("gated linear recurrence mixed with local attention", "2402.19427"),  # Griffin
    ("exponential gating and matrix memory LSTM", "2405.04517"),  # xLSTM
]


@pytest.mark.parametrize(("query", "expected"), KNOWN, ids=[e for _, e in KNOWN])
def test_known_query_finds_its_paper_first(kb, query, expected):
    hits = kb.search(query, k=5)
    assert hits[0].paper.id == expected, [(h.paper.id, h.paper.title, round(h.score, 3)) for h in hits]
    assert hits[0].score >= hits[-1].score
    assert all(0.0 <= h.score <= 1.0 for h in hits)


def test_tags_keep_only_papers_with_all_of_them(kb):
    hits = kb.search("sparse routing of tokens", k=10, tags=["moe", "state-space"])
    assert hits and all({"moe", "state-space"} <= set(h.paper.tags) for h in hits)
    assert hits[0].paper.id == "2401.04081"  # MoE-Mamba


def test_unknown_tag_and_empty_query_are_refused(kb):
    with pytest.raises(ValueError, match="unknown tags \\['ssm'\\]"):
        kb.search("mamba", tags=["ssm"])
    with pytest.raises(ValueError, match="non-empty query"):
        kb.search("   ")


def test_alpha_moves_between_keyword_and_semantic_ranking(kb):
    # a rare exact term: BM25 alone must rank the paper that contains it first
    assert kb.search("Nystrom landmarks", k=1, alpha=0.0)[0].paper.id == "2102.03902"
    with pytest.raises(ValueError, match="alpha"):
        kb.search("attention", alpha=1.5)


def test_tokenize_lowercases_drops_stopwords_and_plurals():
    assert tokenize("The Heads of Mamba-2 and RoPE's Keys") == ["head", "mamba", "2", "rope", "key"]


def test_bm25_prefers_rare_terms_and_shorter_documents():
    docs = ["gated linear attention", "attention attention attention is everywhere in this long text here",
            "retention decay chunkwise"]
    scores = BM25(docs).scores("chunkwise attention")
    assert scores.argmax() == 2  # the rare term outweighs the common one
    assert BM25(docs).scores("nothing matches").tolist() == [0.0, 0.0, 0.0]


def test_fusion_is_min_max_normalized_and_weighted():
    fused = fuse(np.array([0.2, 0.6, 1.0]), np.array([3.0, 0.0, 0.0]), alpha=0.5)
    assert fused.tolist() == pytest.approx([0.5, 0.25, 0.5])
    assert fuse(np.array([1.0, 1.0]), np.array([0.0, 2.0]), alpha=0.5).tolist() == [0.0, 0.5]


def test_hybrid_index_ranks_within_candidates_deterministically():
    vectors = np.eye(3, dtype=np.float32)
    index = HybridIndex(vectors, ["alpha", "beta", "gamma"])
    assert [r for r, _ in index.search(vectors[1], "beta", k=3)][:1] == [1]
    assert [r for r, _ in index.search(vectors[1], "beta", k=3, candidates=np.array([0, 2]))] == [0, 2]
    index.add(np.array([0, 1, 0], np.float32), "beta again")
    assert len(index) == 4 and index.search(vectors[1], "beta", k=1)[0][0] in (1, 3)
