"""Selection (paper section 4): which operation and parents a new design gets, which designs to verify next.

    op = choose_operation(state, spec, rng)
    parents = select_parents(state, spec, rng, op)
    pairs = verification_candidates(state, spec)    # [(design, rung)], most wanted first
    queue = verification_queue(state, spec)         # [(design, rung, repeat)]: the above and calibration runs

Parents come from the fitness x confidence quadrants of `genesys.evolution.fitness`;
all randomness comes from the `rng` passed in, so a plan can be replayed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from genesys.api.evolution import EvolutionSpec
from genesys.evolution.fitness import Standing, leaderboard
from genesys.evolution.state import EvolutionState, VerificationRecord

NewOperation = Literal["mutation", "crossover", "scratch"]


def seeds_of(state: EvolutionState) -> list[str]:
    """The seed designs, oldest first."""
    return [d.name for d in sorted(state.designs, key=lambda d: (d.order, d.name)) if d.operation == "seed"]


def in_warmup(state: EvolutionState, spec: EvolutionSpec) -> bool:
    """The first `selection.warmup_designs` design sessions mutate seeds (nothing is rated yet)."""
    return len(state.sessions) < spec.selection.warmup_designs


def parent_candidates(state: EvolutionState, board: Sequence[Standing]) -> list[str]:
    """Designs that may be parents: the rated ones and the seeds (a restart needs no rating)."""
    rated = [s.design for s in board]
    return rated + [s for s in seeds_of(state) if s not in set(rated)]


def parents_needed(spec: EvolutionSpec, operation: NewOperation) -> int:
    return {"mutation": 1, "crossover": spec.selection.crossover_parents, "scratch": 0}[operation]


def choose_operation(
    state: EvolutionState, spec: EvolutionSpec, rng: random.Random, board: Sequence[Standing] | None = None
) -> NewOperation:
    """Mutation during warm-up, else a draw from `selection.operations`.

    Crossover without enough candidate parents becomes a mutation, and a mutation with
    no candidate at all becomes scratch, so a session can always start.
    """
    board = leaderboard(state, spec) if board is None else board
    candidates = parent_candidates(state, board)
    operation: NewOperation = "mutation"
    if not in_warmup(state, spec):
        mix = spec.selection.operations
        operations: list[NewOperation] = ["mutation", "crossover", "scratch"]
        [operation] = rng.choices(operations, weights=[mix.mutation, mix.crossover, mix.scratch])
    if operation == "crossover" and len(candidates) < spec.selection.crossover_parents:
        operation = "mutation"
    if operation == "mutation" and not candidates:
        operation = "scratch"
    return operation


def select_parents(
    state: EvolutionState,
    spec: EvolutionSpec,
    rng: random.Random,
    operation: NewOperation,
    board: Sequence[Standing] | None = None,
) -> tuple[str, ...]:
    """Distinct parents for `operation`, drawn uniformly from the first pool that has them.

    Pools, in order: with `restart_probability` the seeds; else with `explore_probability`
    poor & confident designs (a second look at ideas ranked low); else good & confident.
    Early on nothing is confident, so the pools fall back to good & unconfident, then any
    rated design, then the seeds. During warm-up the seeds come first.
    """
    needed = parents_needed(spec, operation)
    if needed == 0:
        return ()
    board = leaderboard(state, spec) if board is None else board
    quadrant: dict[str, list[str]] = {}
    for s in board:
        quadrant.setdefault(s.quadrant, []).append(s.design)
    rated = [s.design for s in board]
    seeds = seeds_of(state)
    fallback = [quadrant.get("good-confident", []), quadrant.get("good-unconfident", []), rated, seeds]
    if in_warmup(state, spec):
        pools = [seeds, rated]
    elif rng.random() < spec.selection.restart_probability:
        pools = [seeds, *fallback]
    elif rng.random() < spec.selection.explore_probability:
        pools = [quadrant.get("poor-confident", []), *fallback]
    else:
        pools = fallback

    chosen: list[str] = []
    for pool in pools:
        fresh = [d for d in pool if d not in chosen]
        chosen += rng.sample(fresh, min(needed - len(chosen), len(fresh)))
        if len(chosen) == needed:
            break
    return tuple(chosen)


def verification_candidates(
    state: EvolutionState, spec: EvolutionSpec, board: Sequence[Standing] | None = None
) -> list[tuple[str, str]]:
    """(design, rung) pairs worth verifying next, most wanted first; budgets are the planner's job.

    1. designs never verified, at the lowest rung, oldest first (seeds included);
    2. good designs at the rung above the highest one they passed, unconfident first (a
       verification there buys the most certainty), then by rank. Good & confident designs
       follow, as confidence is reached after `confident_rungs` rungs and the rungs above
       would otherwise never be used.
    A design with a failed or running verification at any rung is not promoted, and no
    pair that already has a verification record (in any phase) is proposed again.
    Calibration repeats (see `repeat_candidates`) neither count nor block here.
    """
    rungs = spec.ladder.rung_names()
    board = leaderboard(state, spec) if board is None else board
    records: dict[str, dict[str, VerificationRecord]] = {}
    for r in state.verifications:
        if r.rung in rungs and r.repeat == 0:
            records.setdefault(r.design, {})[r.rung] = r

    pairs = [
        (d.name, rungs[0])
        for d in sorted(state.designs, key=lambda d: (d.order, d.name))
        if d.name not in records
    ]
    for standing in sorted((s for s in board if s.good), key=lambda s: (s.confident, s.rank)):
        mine = records.get(standing.design, {})
        if any(r.phase != "succeeded" for r in mine.values()):
            continue
        above = rungs.index(standing.best_rung) + 1
        if above < len(rungs) and rungs[above] not in mine:
            pairs.append((standing.design, rungs[above]))
    return pairs


def repeat_candidates(state: EvolutionState, spec: EvolutionSpec) -> list[tuple[str, str, int]]:
    """(seed, lowest rung, repeat) calibration runs still to start, oldest seed first.

    `ladder.seedRepeats` = K verifies every seed K times at the lowest rung (training seeds
    spec.seed + repeat), to measure training noise. Repeats of a seed wait for its first
    verification to succeed: a seed that fails to train calibrates nothing.
    """
    lowest = spec.ladder.rung_names()[0]
    mine = {(r.design, r.repeat): r.phase for r in state.verifications if r.rung == lowest}
    return [
        (seed, lowest, repeat)
        for seed in seeds_of(state)
        if mine.get((seed, 0)) == "succeeded"
        for repeat in range(1, spec.ladder.seed_repeats)
        if (seed, repeat) not in mine
    ]


def verification_queue(
    state: EvolutionState, spec: EvolutionSpec, board: Sequence[Standing] | None = None
) -> list[tuple[str, str, int]]:
    """Every verification worth starting, most wanted first, as (design, rung, repeat).

    The seeds' first runs, then their calibration repeats, then everything else of
    `verification_candidates`: the noise estimate is wanted before new designs are judged
    against the seeds, and new designs would otherwise starve the repeats.
    """
    pairs = verification_candidates(state, spec, board)
    seeds, lowest = set(seeds_of(state)), spec.ladder.rung_names()[0]
    first = [(d, r, 0) for d, r in pairs if d in seeds and r == lowest]
    rest = [(d, r, 0) for d, r in pairs if not (d in seeds and r == lowest)]
    return first + repeat_candidates(state, spec) + rest
