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
from dataclasses import dataclass
from operator import itemgetter

from genesys.api.evolution import EvolutionSpec
from genesys.api.vocabulary import NEW_OPERATIONS, PARENT_COUNTS, NewOperation
from genesys.evolution.fitness import Ranking, Standing, ranking
from genesys.evolution.state import EvolutionState


def seeds_of(state: EvolutionState) -> list[str]:
    """The seed designs, oldest first."""
    seeds = (d for d in state.designs if d.operation == "seed")  # a handful: sort them, not every design
    return [d.name for d in sorted(seeds, key=lambda d: (d.order, d.name))]


def in_warmup(state: EvolutionState, spec: EvolutionSpec) -> bool:
    """The first `selection.warmup_designs` design sessions mutate seeds (nothing is rated yet)."""
    return len(state.sessions) < spec.selection.warmup_designs


def parent_candidates(state: EvolutionState, board: Sequence[Standing]) -> list[str]:
    """Designs that may be parents: the rated ones and the seeds (a restart needs no rating)."""
    rated = [s.design for s in board]
    known = set(rated)
    return rated + [s for s in seeds_of(state) if s not in known]


def parents_needed(spec: EvolutionSpec, operation: NewOperation) -> int:
    """The fixed count of the vocabulary, or for crossover (no upper bound) the spec's choice."""
    low, high = PARENT_COUNTS[operation]
    return spec.selection.crossover_parents if high is None else low


@dataclass(frozen=True)
class ParentPools:
    """What parents are drawn from, read once from a ranking: every session of a plan shares it."""

    seeds: list[str]  # oldest first
    rated: list[str]  # in ranking order
    quadrants: dict[str, list[str]]  # quadrant -> its designs, in ranking order
    candidates: int  # how many designs may be parents (see `parent_candidates`)

    @classmethod
    def of(cls, state: EvolutionState, ranked: Ranking) -> ParentPools:
        quadrants: dict[str, list[str]] = {}
        for design, quadrant in zip(ranked.designs, ranked.quadrants, strict=True):
            quadrants.setdefault(quadrant, []).append(design)
        seeds, rated = seeds_of(state), ranked.designs
        known = set(rated)
        return cls(seeds, rated, quadrants, len(rated) + sum(s not in known for s in seeds))


def _ranked(state: EvolutionState, spec: EvolutionSpec, board: Sequence[Standing] | None) -> Ranking:
    return ranking(state, spec) if board is None else Ranking.of(board)


def choose_operation(
    state: EvolutionState, spec: EvolutionSpec, rng: random.Random, board: Sequence[Standing] | None = None
) -> NewOperation:
    """Mutation during warm-up, else a draw from `selection.operations`.

    Crossover without enough candidate parents becomes a mutation, and a mutation with
    no candidate at all becomes scratch, so a session can always start.
    """
    return pick_operation(state, spec, rng, ParentPools.of(state, _ranked(state, spec, board)))


def pick_operation(state: EvolutionState, spec: EvolutionSpec, rng: random.Random, pools: ParentPools) -> NewOperation:
    """`choose_operation` from pools read before."""
    operation: NewOperation = "mutation"
    if not in_warmup(state, spec):
        mix = spec.selection.operations
        [operation] = rng.choices(NEW_OPERATIONS, weights=[getattr(mix, op) for op in NEW_OPERATIONS])
    if operation == "crossover" and pools.candidates < spec.selection.crossover_parents:
        operation = "mutation"
    if operation == "mutation" and not pools.candidates:
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
    if parents_needed(spec, operation) == 0:
        return ()
    return pick_parents(state, spec, rng, operation, ParentPools.of(state, _ranked(state, spec, board)))


def pick_parents(
    state: EvolutionState, spec: EvolutionSpec, rng: random.Random, operation: NewOperation, pools: ParentPools
) -> tuple[str, ...]:
    """`select_parents` from pools read before."""
    needed = parents_needed(spec, operation)
    if needed == 0:
        return ()
    quadrant = pools.quadrants
    fallback = [quadrant.get("good-confident", []), quadrant.get("good-unconfident", []), pools.rated, pools.seeds]
    if in_warmup(state, spec):
        order = [pools.seeds, pools.rated]
    elif rng.random() < spec.selection.restart_probability:
        order = [pools.seeds, *fallback]
    elif rng.random() < spec.selection.explore_probability:
        order = [quadrant.get("poor-confident", []), *fallback]
    else:
        order = fallback

    chosen: list[str] = []
    for pool in order:
        # the pool itself while nothing is chosen: copying thousands of names per session adds up
        fresh = [d for d in pool if d not in chosen] if chosen else pool
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
    return candidates_of(state, spec, _ranked(state, spec, board))


def candidates_of(state: EvolutionState, spec: EvolutionSpec, ranked: Ranking) -> list[tuple[str, str]]:
    """`verification_candidates` from a ranking read before."""
    rungs = spec.ladder.rung_names()
    phases: dict[str, dict[str, str]] = {rung: {} for rung in rungs}  # rung -> design -> phase there
    for r in state.verifications:
        if r.repeat == 0 and (here := phases.get(r.rung)) is not None:
            here[r.design] = r.phase
    tried = set().union(*phases.values())
    blocked = {design for here in phases.values() for design, phase in here.items() if phase != "succeeded"}

    fresh = (d for d in state.designs if d.name not in tried)
    pairs = [(d.name, rungs[0]) for d in sorted(fresh, key=lambda d: (d.order, d.name))]
    columns = zip(ranked.confident, ranked.ranks, ranked.designs, ranked.quadrants, ranked.best_rungs, strict=True)
    good = [row for row in columns if row[3].startswith("good") and row[2] not in blocked]
    above = {rung: i + 1 for i, rung in enumerate(rungs)}
    for _, _, design, _, best in sorted(good, key=itemgetter(0, 1)):
        level = above[best]
        if level < len(rungs) and design not in phases[rungs[level]]:
            pairs.append((design, rungs[level]))
    return pairs


def repeat_candidates(state: EvolutionState, spec: EvolutionSpec) -> list[tuple[str, str, int]]:
    """(seed, lowest rung, repeat) calibration runs still to start, oldest seed first.

    `ladder.seedRepeats` = K verifies every seed K times at the lowest rung (training seeds
    spec.seed + repeat), to measure training noise. Repeats of a seed wait for its first
    verification to succeed: a seed that fails to train calibrates nothing.
    """
    if spec.ladder.seed_repeats <= 1:
        return []
    lowest, seeds = spec.ladder.rung_names()[0], seeds_of(state)
    wanted = set(seeds)
    mine = {(r.design, r.repeat): r.phase for r in state.verifications if r.rung == lowest and r.design in wanted}
    return [
        (seed, lowest, repeat)
        for seed in seeds
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
    return queue_of(state, spec, verification_candidates(state, spec, board))


def queue_of(
    state: EvolutionState, spec: EvolutionSpec, pairs: Sequence[tuple[str, str]]
) -> list[tuple[str, str, int]]:
    """`verification_queue` from the `verification_candidates` found before."""
    seeds, lowest = set(seeds_of(state)), spec.ladder.rung_names()[0]
    first = [(d, r, 0) for d, r in pairs if d in seeds and r == lowest]
    rest = [(d, r, 0) for d, r in pairs if not (d in seeds and r == lowest)]
    return first + repeat_candidates(state, spec) + rest
