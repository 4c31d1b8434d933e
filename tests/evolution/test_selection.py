"""Selection: operations (warm-up, mix, fallbacks), parents by quadrant, which verifications come next."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from genesys.api.evolution import EvolutionSpec
from genesys.evolution import (
    DesignRecord,
    EvolutionState,
    SessionRecord,
    VerificationRecord,
    choose_operation,
    leaderboard,
    repeat_candidates,
    select_parents,
    verification_candidates,
    verification_queue,
)
from genesys.evolution.fitness import Ranking
from genesys.evolution.selection import ParentPools, parent_candidates

RUNGS = ["a", "b", "c"]


def spec_of(**selection) -> EvolutionSpec:
    ladder = {"preset": None, "rungs": [{"name": r} for r in RUNGS]}
    return EvolutionSpec.model_validate({"seeds": ["s1"], "ladder": ladder, "selection": selection})


def verified(design, rung, score=0.5, phase="succeeded"):
    return VerificationRecord(f"{design}-{rung}", design, rung, phase, {"x": score}, fitness_stderr=0.01)


def sessions(n: int) -> tuple[SessionRecord, ...]:
    return tuple(SessionRecord(f"design-{i:04d}", "mutation", ("s1",), "succeeded") for i in range(1, n + 1))


def population(records=(), seeds=("s1", "s2"), others=(), started=0) -> EvolutionState:
    designs = [DesignRecord(s, "seed", order=i) for i, s in enumerate(seeds)]
    designs += [DesignRecord(d, "mutation", ("s1",), order=len(seeds) + i) for i, d in enumerate(others)]
    return EvolutionState(designs=tuple(designs), sessions=sessions(started), verifications=tuple(records))


# p: good & confident, q: good & unconfident, r and the seed s1: poor & confident, t: poor & unconfident
# (p and r are confident as their leads over s1 at b are far beyond the 0.01 stderrs)
QUADRANTS = [
    verified("p", "a", 0.9), verified("p", "b", 0.9),
    verified("q", "a", 0.8),
    verified("s1", "a", 0.5), verified("s1", "b", 0.5),
    verified("r", "a", 0.2), verified("r", "b", 0.2),
    verified("t", "a", 0.1),
]  # fmt: skip


def test_quadrant_fixture_is_what_the_tests_assume():
    board = {s.design: s.quadrant for s in leaderboard(population(QUADRANTS, others="pqrt"), spec_of())}
    assert board == {"p": "good-confident", "q": "good-unconfident", "s1": "poor-confident",
                     "r": "poor-confident", "t": "poor-unconfident"}


def test_warmup_mutates_seeds():
    spec = spec_of(warmupDesigns=3, operations={"mutation": 0, "crossover": 1, "scratch": 0})
    state = population(QUADRANTS, others="pqrt", started=2)
    rng = random.Random(0)
    for _ in range(20):
        assert choose_operation(state, spec, rng) == "mutation"
        assert select_parents(state, spec, rng, "mutation")[0] in {"s1", "s2"}
    assert choose_operation(population(QUADRANTS, others="pqrt", started=3), spec, rng) == "crossover"


def test_operation_mix_is_sampled_after_warmup():
    spec = spec_of(warmupDesigns=0, operations={"mutation": 2, "crossover": 1, "scratch": 1})
    state = population(QUADRANTS, others="pqrt")
    rng = random.Random(1)
    counts = Counter(choose_operation(state, spec, rng) for _ in range(4000))
    assert counts["mutation"] / 4000 == pytest.approx(0.5, abs=0.04)
    assert counts["crossover"] / 4000 == pytest.approx(0.25, abs=0.04)
    assert counts["scratch"] / 4000 == pytest.approx(0.25, abs=0.04)


def test_crossover_without_enough_parents_falls_back_to_mutation_then_scratch():
    only = {"mutation": 0, "crossover": 1, "scratch": 0}
    crossover_only = spec_of(warmupDesigns=0, crossoverParents=3, operations=only)
    rng = random.Random(0)
    assert choose_operation(population(seeds=("s1", "s2")), crossover_only, rng) == "mutation"
    assert choose_operation(population(seeds=("s1", "s2", "s3")), crossover_only, rng) == "crossover"
    assert choose_operation(population(seeds=()), crossover_only, rng) == "scratch"


def parents_seen(spec, state, operation="mutation", draws=300) -> Counter:
    rng = random.Random(7)
    return Counter(p for _ in range(draws) for p in select_parents(state, spec, rng, operation))


def test_parents_come_from_good_and_confident():
    spec = spec_of(warmupDesigns=0, exploreProbability=0, restartProbability=0)
    assert set(parents_seen(spec, population(QUADRANTS, others="pqrt"))) == {"p"}


def test_explore_picks_poor_and_confident_and_restart_picks_a_seed():
    state = population(QUADRANTS, others="pqrt")
    explore = spec_of(warmupDesigns=0, exploreProbability=1, restartProbability=0)
    assert set(parents_seen(explore, state)) == {"r", "s1"}
    restart = spec_of(warmupDesigns=0, exploreProbability=0, restartProbability=1)
    assert set(parents_seen(restart, state)) == {"s1", "s2"}
    mixed = spec_of(warmupDesigns=0, exploreProbability=0.5, restartProbability=0.2)
    seen = parents_seen(mixed, state, draws=2000)
    # restart (0.2) draws s1 or s2; explore (0.5 of the rest) draws r or the seed s1
    assert seen["s2"] == pytest.approx(200, rel=0.25)
    assert seen["r"] == pytest.approx(400, rel=0.2)
    assert seen["s1"] == pytest.approx(600, rel=0.2)
    assert seen["p"] == pytest.approx(800, rel=0.15)


def test_early_on_parents_fall_back_to_good_unconfident_then_seeds():
    spec = spec_of(warmupDesigns=0, exploreProbability=1, restartProbability=0)
    unconfident = [verified("q", "a", 0.8), verified("t", "a", 0.1)]
    assert set(parents_seen(spec, population(unconfident, others="qt"))) == {"q"}
    assert set(parents_seen(spec, population(others="qt"))) == {"s1", "s2"}  # nothing rated yet


def test_crossover_parents_are_distinct_and_topped_up_from_the_next_pools():
    spec = spec_of(warmupDesigns=0, exploreProbability=0, restartProbability=0, crossoverParents=3)
    state = population(QUADRANTS, others="pqrt")
    rng = random.Random(3)
    for _ in range(50):
        parents = select_parents(state, spec, rng, "crossover")
        assert len(parents) == len(set(parents)) == 3
        assert parents[0] == "p" and parents[1] == "q"  # good-confident, then good-unconfident, then any rated
    assert select_parents(state, spec, rng, "scratch") == ()


def test_a_board_passed_in_and_the_ranking_read_from_the_state_choose_alike():
    state = population(QUADRANTS, others="pqrt", started=1)
    spec = spec_of(warmupDesigns=0, exploreProbability=0.3, restartProbability=0.2, crossoverParents=3)
    board = leaderboard(state, spec)
    assert ParentPools.of(state, Ranking.of(board)).candidates == len(parent_candidates(state, board)) == 6
    assert verification_candidates(state, spec, board) == verification_candidates(state, spec)
    for seed in range(40):
        given, read = random.Random(seed), random.Random(seed)
        operation = choose_operation(state, spec, given, board)
        assert operation == choose_operation(state, spec, read)
        assert select_parents(state, spec, given, operation, board) == select_parents(state, spec, read, operation)


def test_new_designs_come_first_at_the_lowest_rung_oldest_first():
    state = population([verified("s1", "a", 0.9)], others=("n2", "n1"))
    assert verification_candidates(state, spec_of()) == [("s2", "a"), ("n2", "a"), ("n1", "a"), ("s1", "b")]


def test_good_designs_are_promoted_one_rung_above_what_they_passed_unconfident_first():
    state = population(QUADRANTS, others="pqrt")
    assert verification_candidates(state, spec_of()) == [("s2", "a"), ("q", "b"), ("p", "c")]
    on_top = [*QUADRANTS, verified("p", "c", 0.9)]  # no seed at c: p's lead is unknown, so p is unconfident
    assert verification_candidates(population(on_top, others="pqrt"), spec_of()) == [("s2", "a"), ("q", "b")]


@pytest.mark.parametrize("phase", ["failed", "running"])
def test_no_promotion_past_a_failed_or_running_verification(phase):
    records = [verified("q", "a", 0.9), verified("t", "a", 0.1), verified("q", "c", phase=phase)]
    assert verification_candidates(population(records, others="qt", seeds=()), spec_of()) == []


def test_a_pair_with_a_record_in_any_phase_is_never_proposed_again():
    records = [verified("q", "a", 0.9), verified("t", "a", 0.1), verified("q", "b", phase="running")]
    assert verification_candidates(population(records, others="qt", seeds=()), spec_of()) == []
    lost = VerificationRecord("n-a", "n", "a", "failed", charged=False)
    assert verification_candidates(population([lost], others="n", seeds=()), spec_of()) == []


def spec_with_repeats(repeats: int) -> EvolutionSpec:
    ladder = {"preset": None, "rungs": [{"name": r} for r in RUNGS], "seedRepeats": repeats}
    return EvolutionSpec.model_validate({"seeds": ["s1"], "ladder": ladder})


def repeat_of(design, rung, k, score=0.5, phase="succeeded"):
    return VerificationRecord(f"{design}-{rung}-r{k}", design, rung, phase, {"x": score}, repeat=k)


def test_seeds_are_repeated_at_the_lowest_rung_once_their_first_run_succeeded():
    records = [verified("s1", "a", 0.6), verified("s2", "a", phase="running"), repeat_of("s1", "a", 1, phase="running")]
    state = population(records, others="n")
    assert repeat_candidates(state, spec_with_repeats(1)) == []
    assert repeat_candidates(state, spec_with_repeats(3)) == [("s1", "a", 2)]
    # seeds' first runs, then their repeats, then new designs and promotions
    assert verification_queue(state, spec_with_repeats(3)) == [("s1", "a", 2), ("n", "a", 0), ("s1", "b", 0)]


def test_repeats_neither_block_promotion_nor_count_as_verifications():
    running = [verified("s1", "a", 0.6), verified("n", "a", 0.4), repeat_of("s1", "a", 1, phase="running")]
    assert ("s1", "b") in verification_candidates(population(running, seeds=("s1",), others="n"), spec_of())
    failed = [verified("s1", "a", 0.6), verified("n", "a", 0.4), repeat_of("s1", "a", 1, phase="failed")]
    assert ("s1", "b") in verification_candidates(population(failed, seeds=("s1",), others="n"), spec_of())
