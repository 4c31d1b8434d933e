"""Score normalisation as the paper does it, and fitness with its standard error."""

from __future__ import annotations

import math
import random

import pytest

from genesys.evaluation.scores import (
    TaskScore,
    bits_per_byte_stderr,
    fitness,
    normalise_results,
    normalise_task,
    with_baseline,
)


@pytest.mark.parametrize("mcc, score", [(-1.0, 0.0), (0.0, 0.5), (0.2, 0.6), (1.0, 1.0)])
def test_cola_mcc_maps_to_half_plus_half_mcc(mcc, score):
    got = normalise_task("cola", {"alias": "cola", "mcc,none": mcc, "mcc_stderr,none": 0.1})
    assert (got.metric, got.raw) == ("mcc", mcc)
    assert got.score == pytest.approx(score)
    assert got.stderr == pytest.approx(0.05)


def test_acc_norm_preferred_over_acc_and_missing_stderr_is_none():
    got = normalise_task("nextsent", {"acc,none": 0.4, "acc_norm,none": 0.55, "acc_norm_stderr,none": "N/A"})
    assert (got.metric, got.score, got.stderr) == ("acc_norm", 0.55, None)
    assert normalise_task("rte", {"acc,none": 0.52, "acc_stderr,none": 0.03}).score == 0.52


def test_bits_per_byte_maps_to_per_byte_probability():
    got = normalise_task("genesys_bpb", {"bits_per_byte,none": 1.0, "bits_per_byte_stderr,none": 0.1})
    assert got.score == pytest.approx(0.5)
    assert got.stderr == pytest.approx(math.log(2) * 0.5 * 0.1)
    assert normalise_task("b", {"bits_per_byte,none": 8.0}).score == pytest.approx(1 / 256)


def test_unknown_metrics_fail_with_a_hint():
    with pytest.raises(ValueError, match="scores.py"):
        normalise_task("squad", {"f1,none": 0.3})


def test_blimp_and_inverse_scaling_subtasks_average_into_one_score_each():
    results = {
        "blimp": {"acc,none": 0.99, "acc_stderr,none": 0.01},  # the group row: ignored
        "blimp_anaphor_gender_agreement": {"acc,none": 0.8, "acc_stderr,none": 0.03},
        "blimp_wh_island": {"acc,none": 0.6, "acc_stderr,none": 0.04},
        "inverse_scaling_neqa": {"acc,none": 0.5, "acc_norm,none": 0.4, "acc_norm_stderr,none": 0.02},
        "inverse_scaling_sig_figs": {"acc,none": 0.3, "acc_norm,none": 0.6, "acc_norm_stderr,none": 0.02},
        "inverse_scaling_memo_trap": {"acc,none": 0.3, "acc_norm,none": 0.8, "acc_norm_stderr,none": 0.02},
        "cola": {"mcc,none": 0.0, "mcc_stderr,none": 0.02},
    }
    scores = normalise_results(results)
    assert sorted(scores) == ["blimp", "cola", "inverse_scaling"]
    blimp = scores["blimp"]
    assert (blimp.score, blimp.n_subtasks) == (pytest.approx(0.7), 2)
    assert blimp.stderr == pytest.approx(math.sqrt(0.03**2 + 0.04**2) / 2)
    assert scores["inverse_scaling"].score == pytest.approx(0.6)
    assert scores["inverse_scaling"].n_subtasks == 3
    assert scores["cola"].score == 0.5


def test_fitness_is_the_mean_with_the_stderr_of_a_mean_of_independent_scores():
    scores = [TaskScore("a", "acc", 0.5, 0.5, 0.03), TaskScore("b", "acc", 0.7, 0.7, 0.04)]
    value, stderr = fitness(scores)
    assert value == pytest.approx(0.6)
    assert stderr == pytest.approx(0.025)
    assert fitness([*scores, TaskScore("c", "acc", 0.9, 0.9, None)])[1] is None
    with pytest.raises(ValueError):
        fitness([])


def test_bits_per_byte_stderr_matches_the_spread_of_resampled_corpora():
    rng = random.Random(0)
    samples = [(-rng.uniform(200, 900), rng.randint(300, 1000)) for _ in range(400)]

    def bpb(s):
        return -sum(x[0] for x in s) / sum(x[1] for x in s) / math.log(2)

    boots = [bpb([rng.choice(samples) for _ in samples]) for _ in range(400)]
    mean = sum(boots) / len(boots)
    spread = math.sqrt(sum((b - mean) ** 2 for b in boots) / (len(boots) - 1))
    assert bits_per_byte_stderr(samples) == pytest.approx(spread, rel=0.15)
    assert bits_per_byte_stderr([(-100.0, 50), (-200.0, 100)]) == 0.0  # same ratio everywhere
    assert bits_per_byte_stderr([(-1.0, 1)]) is None


def test_baseline_attaches_per_task():
    scores = normalise_results({"rte": {"acc,none": 0.6, "acc_stderr,none": 0.02}})
    got = with_baseline(scores, {"rte": 0.5})["rte"]
    assert got.baseline == 0.5 and got.over_baseline == pytest.approx(0.1)
    assert got.to_dict()["over_baseline"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="same task set"):
        with_baseline(scores, {})
