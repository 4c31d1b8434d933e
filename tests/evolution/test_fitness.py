"""The Massey rating: agrees with the mean score where it should, filters chance games, weighs rungs; quadrants."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genesys.api.evolution import EvolutionSpec
from genesys.evolution import (
    DesignRecord,
    EvolutionState,
    VerificationRecord,
    leaderboard,
    massey_ratings,
    training_spread,
)
from genesys.evolution.fitness import Ranking, ranking

RUNGS = ["a", "b", "c"]


def spec_of(**selection) -> EvolutionSpec:
    ladder = {"preset": None, "rungs": [{"name": r} for r in RUNGS]}
    return EvolutionSpec.model_validate({"seeds": ["s"], "ladder": ladder, "selection": selection})


def verified(design, rung, scores, baselines=None, phase="succeeded", fitness=None):
    return VerificationRecord(f"{design}-{rung}", design, rung, phase, scores, baselines or {}, fitness)


def state_of(records, designs=None, seeds=frozenset()) -> EvolutionState:
    names = designs or sorted({r.design for r in records})
    return EvolutionState(
        designs=tuple(DesignRecord(n, "seed" if n in seeds else "mutation", order=i) for i, n in enumerate(names)),
        verifications=tuple(records),
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(0, 1), min_size=3, max_size=3), min_size=1, max_size=8))
def test_one_rung_all_tasks_rating_is_the_centred_mean_score(matrix):
    records = [verified(f"d{i}", "a", {f"t{j}": s for j, s in enumerate(row)}) for i, row in enumerate(matrix)]
    ratings = massey_ratings(records, RUNGS)
    means = [sum(row) / len(row) for row in matrix]
    grand = sum(means) / len(means)
    for i, mean in enumerate(means):
        assert ratings[f"d{i}"] == pytest.approx(mean - grand, abs=1e-9)


def test_mean_score_order_on_a_simple_case():
    records = [
        verified("low", "a", {"x": 0.3, "y": 0.4}),
        verified("high", "a", {"x": 0.7, "y": 0.6}),
        verified("mid", "a", {"x": 0.5, "y": 0.5}),
    ]
    board = leaderboard(state_of(records), spec_of())
    assert [s.design for s in board] == ["high", "mid", "low"]
    assert [s.rank for s in board] == [1, 2, 3]
    assert sum(s.rating for s in board) == pytest.approx(0)


def test_games_where_both_designs_are_at_chance_are_dropped():
    at_chance = {"x": 0.5, "y": 0.5}
    records = [
        verified("p", "a", {"x": 0.6, "y": 0.10}, at_chance),
        verified("q", "a", {"x": 0.6, "y": 0.30}, at_chance),  # better at y, but both are below chance there
    ]
    ratings = massey_ratings(records, RUNGS)
    assert ratings == {"p": 0.0, "q": 0.0}
    no_baselines = [verified(r.design, r.rung, r.scores) for r in records]
    ratings = massey_ratings(no_baselines, RUNGS)
    assert ratings["q"] > ratings["p"]
    # one design above chance keeps the game: it beat the other by a real margin
    records[1] = verified("q", "a", {"x": 0.6, "y": 0.55}, at_chance)
    ratings = massey_ratings(records, RUNGS)
    assert ratings["q"] > ratings["p"]


def test_a_higher_rung_outweighs_a_lower_one():
    records = [
        verified("p", "a", {"x": 0.6}),
        verified("q", "a", {"x": 0.5}),  # p wins at a by 0.1
        verified("p", "b", {"x": 0.5}),
        verified("q", "b", {"x": 0.6}),  # q wins at b by 0.1
    ]
    ratings = massey_ratings(records, RUNGS)
    assert ratings["q"] > ratings["p"]


def test_failed_running_and_foreign_verifications_do_not_rate():
    records = [
        verified("p", "a", {"x": 0.6}),
        verified("q", "a", {"x": 0.9}, phase="failed"),
        verified("r", "a", {"x": 0.9}, phase="running"),
        verified("s", "elsewhere", {"x": 0.9}),
    ]
    board = leaderboard(state_of(records), spec_of())
    assert [s.design for s in board] == ["p"]
    assert board[0].rating == 0.0
    assert leaderboard(EvolutionState(), spec_of()) == []


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_massey_matches_least_squares_over_explicit_games(data):
    np = pytest.importorskip("numpy")
    n = data.draw(st.integers(1, 6))
    designs = [f"d{i}" for i in range(n)]
    records = []
    for design, rung in itertools.product(designs, RUNGS):
        if data.draw(st.booleans()):
            tasks = data.draw(st.lists(st.sampled_from(["x", "y", "z"]), unique=True, max_size=3))
            scores = {t: data.draw(st.floats(0, 1)) for t in tasks}
            baselines = {t: 0.4 for t in tasks if data.draw(st.booleans())}
            records.append(verified(design, rung, scores, baselines))
    ratings = massey_ratings(records, RUNGS)

    rated = sorted({r.design for r in records})
    assert sorted(ratings) == rated
    rows, margins = [], []
    for level, rung in enumerate(RUNGS):
        here = [r for r in records if r.rung == rung]
        for one, two in itertools.combinations(here, 2):
            for task in set(one.scores) & set(two.scores):
                at_chance = [task in r.baselines and r.scores[task] <= r.baselines[task] for r in (one, two)]
                if all(at_chance):
                    continue
                row = np.zeros(len(rated))
                row[rated.index(one.design)], row[rated.index(two.design)] = 1, -1
                weight = np.sqrt(2.0**level)
                rows.append(row * weight)
                margins.append((one.scores[task] - two.scores[task]) * weight)
    if not rows:
        assert all(v == 0 for v in ratings.values())
        return
    # lstsq gives the minimum-norm solution: each connected group sums to zero, loners are 0
    expected = np.linalg.lstsq(np.array(rows), np.array(margins), rcond=None)[0]
    for design, value in zip(rated, expected, strict=True):
        assert ratings[design] == pytest.approx(value, abs=1e-7)


def test_quadrants_confidence_and_fitness_per_rung():
    records = [
        verified("p", "a", {"x": 0.9}, fitness=0.9),
        verified("p", "b", {"x": 0.8}, fitness=0.8),  # two rungs, far ahead of the seed at b: confident
        verified("q", "a", {"x": 0.7, "y": 0.5}),  # no fitness reported: mean score
        verified("base", "a", {"x": 0.3}),
        verified("base", "b", {"x": 0.3}),
        verified("base", "c", {"x": 0.3}),
        verified("r", "a", {"x": 0.5}),
        verified("r", "c", {"x": 0.32}),  # the top rung, 2.8 stderrs ahead of the seed: confident
        verified("s", "a", {"x": 0.1}),
        verified("s", "b", {"x": 0.1}, phase="failed"),
    ]
    records = [replace(r, fitness_stderr=0.005) for r in records]
    state = state_of(records, designs=["base", "p", "q", "r", "s"], seeds={"base"})
    board = {s.design: s for s in leaderboard(state, spec_of(goodQuantile=0.4, confidentRungs=2))}
    assert [board[d].rank for d in ("p", "q", "r", "base", "s")] == [1, 2, 3, 4, 5]
    assert board["p"].quadrant == "good-confident" and board["p"].good
    assert board["q"].quadrant == "good-unconfident"
    assert board["r"].quadrant == "poor-confident" and not board["r"].good
    assert board["s"].quadrant == "poor-unconfident"
    assert board["base"].quadrant == "poor-confident"  # a seed alone at its best rung: the rung rule
    assert board["p"].rungs == ("a", "b") and board["p"].best_rung == "b"
    assert board["p"].fitness == {"a": 0.9, "b": 0.8} and board["p"].best_fitness == 0.8
    assert board["q"].fitness == {"a": pytest.approx(0.6)}
    assert board["r"].rungs == ("a", "c") and board["r"].best_fitness == pytest.approx(0.32)
    assert board["s"].rungs == ("a",)
    assert (board["p"].versus, board["r"].versus, board["base"].versus) == ("base", "base", None)
    assert board["p"].lead_z == pytest.approx(0.5 / (0.005 * 2**0.5))
    assert board["p"].stderr == pytest.approx(0.005)


@pytest.mark.parametrize(("quantile", "good"), [(0.5, 2), (0.3, 1), (0.75, 3), (0.01, 1), (0.99, 3)])
def test_good_share_is_the_top_quantile_at_least_one(quantile, good):
    records = [verified(f"d{i}", "a", {"x": i / 10}) for i in range(4)]
    board = leaderboard(state_of(records), spec_of(goodQuantile=quantile))
    assert sum(s.good for s in board) == good
    assert all(s.good for s in board[:good])


def test_equal_ratings_rank_the_older_design_first():
    records = [verified(d, "a", {"x": 0.5}) for d in ("young", "old")]
    board = leaderboard(state_of(records, designs=["old", "young"]), spec_of())
    assert [s.design for s in board] == ["old", "young"]


def repeat(design, rung, k, fitness, phase="succeeded"):
    return VerificationRecord(f"{design}-{rung}-r{k}", design, rung, phase, {"x": fitness}, fitness=fitness, repeat=k)


def test_training_spread_pools_repeats_and_borrows_from_the_rung_below():
    records = [
        verified("s1", "a", {"x": 0.5}, fitness=0.50), repeat("s1", "a", 1, 0.52), repeat("s1", "a", 2, 0.54),
        verified("s2", "a", {"x": 0.3}, fitness=0.30), repeat("s2", "a", 1, 0.34),
        repeat("s2", "a", 2, 0.9, phase="failed"), repeat("s2", "a", 3, 0.9, phase="running"),
        verified("d", "a", {"x": 0.4}, fitness=0.4),  # one run: no spread to see
        verified("s1", "c", {"x": 0.5}, fitness=0.5), repeat("s1", "c", 1, 0.51),
    ]
    # pooled: (0.02^2 + 0 + 0.02^2 + 0.02^2 + 0.02^2) / ((3 - 1) + (2 - 1))
    spread = training_spread(records, RUNGS)
    assert spread["a"] == pytest.approx(math.sqrt((0.0008 + 0.0008) / 3))
    assert spread["b"] == spread["a"]  # no repeats at b: the rung below's estimate
    assert spread["c"] == pytest.approx(0.01 / math.sqrt(2))
    assert training_spread(records[:1], RUNGS) == {"a": 0.0, "b": 0.0, "c": 0.0}


def test_a_lead_within_noise_is_not_confident_and_a_deficit_beyond_it_is_not_good():
    def board(lead: float, repeats: bool) -> dict:
        records = [
            verified("seed", "a", {"x": 0.5}, fitness=0.50), verified("seed", "b", {"x": 0.5}, fitness=0.50),
            verified("d", "a", {"x": 0.5 + lead}, fitness=0.5 + lead),
            verified("d", "b", {"x": 0.5 + lead}, fitness=0.5 + lead),
        ]
        if repeats:  # training noise: sd 0.02 from two seeds' repeats
            records += [repeat("seed", "a", 1, 0.5 + 0.02 * math.sqrt(2))]
        records = [replace(r, fitness_stderr=0.005) for r in records]
        state = state_of(records, designs=["seed", "d"], seeds={"seed"})
        return {s.design: s for s in leaderboard(state, spec_of(goodQuantile=0.99))}

    # evaluation noise alone (the issue): a 0.03 lead is 4.2 stderrs, and looks confident
    assert board(0.03, repeats=False)["d"].quadrant == "good-confident"
    # with training noise measured, the same lead is within 2 combined stderrs
    within = board(0.03, repeats=True)["d"]
    assert within.lead_z == pytest.approx(0.03 / math.sqrt(2 * (0.005**2 + 0.02**2)))
    assert within.quadrant == "good-unconfident"
    assert board(0.1, repeats=True)["d"].quadrant == "good-confident"
    behind = board(-0.1, repeats=True)
    assert behind["d"].quadrant == "poor-confident" and behind["d"].lead_z < -2
    # the only seed has no other seed to lead: the rung rule alone (d is no reference)
    assert behind["seed"].quadrant == "good-confident" and behind["seed"].lead_z is None


def test_repeats_do_not_rate_or_count_as_rungs():
    records = [verified("s1", "a", {"x": 0.5}), verified("d", "a", {"x": 0.6})]
    extra = [*records, repeat("s1", "a", 1, 0.99), repeat("d", "a", 1, 0.0)]
    assert massey_ratings(extra, RUNGS) == massey_ratings(records, RUNGS)
    board = {s.design: s for s in leaderboard(state_of(extra, seeds={"s1"}), spec_of())}
    assert board["s1"].rungs == ("a",) and board["s1"].best_fitness == 0.5


def random_population(rng: random.Random, designs: int) -> list[VerificationRecord]:
    """Verifications of `designs` designs at random rungs and tasks, some at chance, some not rated.

    Every fourth design plays only task w at rung c (a second connected group of designs), one
    design has a task of its own (no game: rating 0), and failures, running runs and repeats
    are mixed in to be ignored.
    """
    records = []
    for i in range(designs):
        name, island = f"d{i:02d}", i % 4 == 3
        for rung in ("c",) if island else [r for r, p in (("a", 0.9), ("b", 0.4)) if rng.random() < p]:
            tasks = ["w"] if island else [t for t in ("x", "y", "z") if rng.random() < 0.85]
            scores = {t: rng.random() for t in tasks}
            baselines = {t: 0.3 for t in tasks if rng.random() < 0.7}
            phase = rng.choices(["succeeded", "failed", "running"], weights=[8, 1, 1])[0]
            records.append(replace(verified(name, rung, scores, baselines, phase), fitness_stderr=0.02))
    records.append(verified("loner", "a", {"own": 0.7}))
    records.append(replace(verified("d00", "a", {"x": 0.99}), name="d00-a-r1", repeat=1))
    return records


def dense_massey(records, rungs) -> dict[str, float]:
    """The Massey least squares solved head-on: the n x n normal equations of every game, minimum norm."""
    np = pytest.importorskip("numpy")
    mine = {(r.design, r.rung): r for r in records if r.phase == "succeeded" and r.repeat == 0 and r.rung in rungs}
    designs = sorted({design for design, _ in mine})
    at = {d: i for i, d in enumerate(designs)}
    laplacian, margins = np.zeros((len(designs), len(designs))), np.zeros(len(designs))
    for level, rung in enumerate(rungs):
        here = [r for (_, where), r in mine.items() if where == rung]
        for one, two in itertools.combinations(here, 2):
            for task in set(one.scores) & set(two.scores):
                if all(task in r.baselines and r.scores[task] <= r.baselines[task] for r in (one, two)):
                    continue
                i, j, weight = at[one.design], at[two.design], 2.0**level
                laplacian[i, i] += weight
                laplacian[j, j] += weight
                laplacian[i, j] -= weight
                laplacian[j, i] -= weight
                margins[i] += weight * (one.scores[task] - two.scores[task])
                margins[j] -= weight * (one.scores[task] - two.scores[task])
    # the minimum-norm solution is orthogonal to every connected group's constant: each sums to zero
    solution = np.linalg.lstsq(laplacian, margins, rcond=None)[0]
    return dict(zip(designs, solution.tolist(), strict=True))


@pytest.mark.parametrize("seed", range(8))
def test_massey_matches_a_dense_solve_of_all_games_on_random_populations(seed):
    records = random_population(random.Random(seed), 60)
    ratings, expected = massey_ratings(records, RUNGS), dense_massey(records, RUNGS)
    assert sorted(ratings) == sorted(expected)
    assert max(abs(ratings[d] - expected[d]) for d in expected) <= 1e-9
    assert ratings["loner"] == 0.0
    island = [d for d in ratings if d.startswith("d") and int(d[1:]) % 4 == 3]  # rated at c on w only
    assert len(island) > 2 and abs(sum(ratings[d] for d in island)) <= 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_the_ranking_is_the_leaderboard_as_columns(seed):
    rng = random.Random(seed)
    records = random_population(rng, 40)
    records += [repeat(s, "a", k, rng.random()) for s in ("d00", "d01") for k in (2, 3)]
    state = state_of(records, seeds={"d00", "d01", "d02"})
    spec = spec_of(goodQuantile=rng.choice([0.2, 0.5, 0.8]), confidentRungs=rng.choice([1, 2, 3]), confidenceZ=1.0)
    board = leaderboard(state, spec)
    assert ranking(state, spec) == Ranking.of(board)
    assert [s.rank for s in board] == list(range(1, len(board) + 1))
    assert {s.quadrant for s in board} >= {"good-unconfident", "poor-unconfident"}
