"""A ladder that means something: each rung trains a larger model on tokens in proportion to its size."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from genesys.api import load_manifest
from genesys.api.evolution import Evolution
from genesys.gau import design_parameters, load_design
from genesys.trainer.presets import CPU_TOKENS_PER_PARAM, cpu_ladder, get_rung, with_overrides

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _reference_params(rung) -> int:
    return design_parameters(load_design("gpt2"), 4096, rung.d_model, rung.n_block).non_embedding


def test_cpu_rungs_train_on_the_same_tokens_per_parameter():
    for rung in cpu_ladder():
        assert rung.tokens / _reference_params(rung) == pytest.approx(CPU_TOKENS_PER_PARAM, rel=0.01), rung.name


@pytest.mark.parametrize("example", ["evolution-local.yaml", "evolution-quick.yaml"])
def test_each_rung_of_the_examples_is_larger_and_at_least_as_well_trained(example):
    evolution = load_manifest(EXAMPLES / example, Evolution)
    ladder = evolution.spec.ladder
    rungs = [with_overrides(get_rung(name), {**ladder.overrides, **ladder.rung(name).overrides})
             for name in ladder.rung_names()]
    sizes = [_reference_params(r) for r in rungs]
    per_param = [r.tokens / size for r, size in zip(rungs, sizes, strict=True)]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    # at least as many tokens per parameter as the rung below, within one optimizer step's rounding
    for (below, above), rung in zip(pairwise(per_param), rungs[1:], strict=True):
        assert above >= below * 0.98, (example, rung.name, per_param)
