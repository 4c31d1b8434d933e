"""The design index: earlier designs and proposals, searched for the reviewer's novelty check."""

from __future__ import annotations

import pytest

from genesys.api.design import Proposal
from genesys.api.seed_library import load_seed, seed_names
from genesys.knowledge import DesignIndex
from genesys.knowledge.designs import proposal_text

HYENA = Proposal(
    title="Hyena mixer with long implicit convolutions",
    abstract="Replace attention by implicit long convolutions gated element-wise by input projections.")
MOE = Proposal(
    title="Sparse mixture-of-experts feed-forward",
    abstract="Route every token to two of eight SwiGLU experts with a load-balancing loss.")


@pytest.fixture(scope="module")
def index(embedder):
    """The seeds and two proposals (built once: tests below only read it)."""
    index = DesignIndex(embedder)
    index.add_all(load_seed(name) for name in seed_names())
    index.add_proposal("hyena-mix", HYENA, ["HyenaBlock", "HyenaFilter", "GatedMLP"])
    index.add_proposal("moe-ffn", MOE, ["MoEMLP", "Router"])
    return index


def test_a_near_duplicate_proposal_finds_its_original(index):
    rephrased = Proposal(
        title="Gated long convolution token mixer (Hyena style)",
        abstract="Attention is swapped for long implicitly parameterized convolutions, with element-wise gates "
                 "computed from projections of the input.")
    hits = index.similar_to(rephrased, ["HyenaBlock", "HyenaFilter"], k=3)
    assert hits[0].name == "hyena-mix"
    assert hits[0].cosine > 0.75 and hits[0].cosine > hits[1].cosine + 0.2
    assert hits[0].units == ("HyenaBlock", "HyenaFilter", "GatedMLP")


def test_seed_designs_are_found_by_their_mechanism(index):
    assert len(index) == len(seed_names()) + 2 and "mamba2" in index
    assert index.similar("RNN whose hidden state is a linear model updated by gradient descent on each token",
                         k=1)[0].name == "ttt"
    assert index.similar("multi-scale exponential decay retention, parallel and recurrent forms", k=1)[0].name \
        == "retnet"
    # unit names are indexed too: a planner looking for a reusable unit finds the design that has it
    assert index.similar("MoEMLP Router", k=1)[0].name == "moe-ffn"


def test_exclude_and_replace(embedder):
    index = DesignIndex(embedder)
    index.add_proposal("hyena-mix", HYENA, ["HyenaBlock"])
    index.add_proposal("moe-ffn", MOE, ["MoEMLP", "Router"])
    assert index.similar("mixture of experts routing", k=2)[0].name == "moe-ffn"
    assert [h.name for h in index.similar("mixture of experts routing", k=2, exclude=["moe-ffn"])] == ["hyena-mix"]
    index.add_proposal("moe-ffn", Proposal(title="Retention with a learned decay"), ["Retention"])
    assert len(index) == 2  # replaced, not added
    top = index.similar("retention decay", k=1)[0]
    assert (top.name, top.title, top.units) == ("moe-ffn", "Retention with a learned decay", ("Retention",))
    with pytest.raises(ValueError, match="non-empty text"):
        index.similar(" ")
    assert DesignIndex(embedder).similar("anything", k=3) == []


def test_proposal_text_layout():
    assert proposal_text("Title.", "Why\n  it helps.", ["A", "B"]) == "Title. Why it helps. Units: A, B."
    assert proposal_text("Title") == "Title."
