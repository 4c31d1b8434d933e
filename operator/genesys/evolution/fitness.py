"""Fitness rank of the population: a Massey rating over per-task scores, plus confidence quadrants.

    board = leaderboard(state, spec)      # list[Standing], best first; unverified designs are absent

Why Massey (as the paper, arXiv 2506.20249 section 4): scores of different tasks and
rungs are not on one scale, and designs are verified at different sets of rungs, so a
plain mean favours whoever skipped the hard rungs. Massey turns every comparison of two
designs on one task at one rung into a game won by the score difference and finds the
ratings r that explain all margins best: minimise sum w * (r_i - r_j - margin)^2, with
the ratings of every connected group of designs summing to zero (solved in
`genesys.evolution.massey`).
Random-baseline filter: when neither design of a pair beats its random baseline on a
task at a rung, both are at chance and their difference is noise, so that game is dropped.

Noise: a fitness is one training run scored on a sample of evaluation items, so it carries
the evaluation's sampling stderr and the spread of training itself (another training seed
moves it). `training_spread` estimates the latter from repeated runs of the same design (the
seeds' calibration repeats, ladder.seedRepeats); each design's lead over the best seed is
then measured in combined standard errors (`Standing.lead_z`), and the quadrants ask for a
lead beyond `selection.confidenceZ` of them before calling a design confident.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from genesys.api.evolution import EvolutionSpec
from genesys.evolution.massey import solve_ratings
from genesys.evolution.state import EvolutionState, VerificationRecord

Quadrant = Literal["good-confident", "good-unconfident", "poor-confident", "poor-unconfident"]
_QUADRANTS: dict[tuple[bool, bool], Quadrant] = {  # (good, confident) -> quadrant
    (True, True): "good-confident",
    (True, False): "good-unconfident",
    (False, True): "poor-confident",
    (False, False): "poor-unconfident",
}


@dataclass(frozen=True)
class Standing:
    """One rated design on the leaderboard."""

    design: str
    rating: float  # Massey rating: 0 is the average of its group, +0.01 = one point of score above it
    rank: int  # 1 = best
    quadrant: Quadrant
    confident: bool
    rungs: tuple[str, ...]  # rungs whose verification succeeded, lowest first
    fitness: Mapping[str, float]  # rung -> fitness there
    best_rung: str  # the highest rung it was verified at
    best_fitness: float | None  # fitness at best_rung
    stderr: float | None = None  # combined (evaluation and training) stderr of best_fitness
    # (best_fitness - the best other seed's fitness at best_rung) / both stderrs combined;
    # None: no other seed was verified there, or no noise is known at all
    lead_z: float | None = None
    versus: str | None = None  # that seed

    @property
    def good(self) -> bool:
        return self.quadrant.startswith("good")


def rung_fitness(record: VerificationRecord) -> float | None:
    """The fitness the runtime reported, else the mean task score (genesys.evaluation's definition)."""
    if record.fitness is not None:
        return record.fitness
    return sum(record.scores.values()) / len(record.scores) if record.scores else None


def training_spread(records: Sequence[VerificationRecord], rungs: Sequence[str]) -> dict[str, float]:
    """Training noise of one run's fitness per rung: the pooled sample sd across repeats of a design.

    Pooled over every design with >= 2 succeeded runs at the rung (in practice the seeds'
    calibration repeats): the squared deviations from each design's own mean, summed over all
    of them, over sum(n_design - 1). Designs differ in level but share the noise of training.
    A rung without repeats borrows the nearest lower rung's estimate (noise shrinks with scale,
    so that errs on the cautious side); with no estimate at or below a rung it is 0, which
    leaves the evaluation's stderr alone, as before repeats existed.
    """
    runs: dict[tuple[str, str], list[float]] = {}
    for r in records:
        if r.phase == "succeeded" and r.rung in rungs and (f := rung_fitness(r)) is not None:
            runs.setdefault((r.rung, r.design), []).append(f)
    spread: dict[str, float] = {}
    estimate = 0.0
    for rung in rungs:
        squares, dof = 0.0, 0
        for (where, _), values in runs.items():
            if where == rung and len(values) >= 2:
                mean = sum(values) / len(values)
                squares += sum((v - mean) ** 2 for v in values)
                dof += len(values) - 1
        if dof:
            estimate = math.sqrt(squares / dof)
        spread[rung] = estimate
    return spread


def combined_stderr(record: VerificationRecord, train_sd: float) -> float:
    """Stderr of one run's fitness: evaluation sampling (0 when unknown) and training noise, independent."""
    return math.hypot(record.fitness_stderr or 0.0, train_sd)


def _lead(
    design: str,
    rung: str,
    passed: Mapping[str, Mapping[str, VerificationRecord]],
    seeds: Sequence[str],
    train_sd: float,
) -> tuple[float | None, str | None]:
    """(lead in combined stderrs over the best other seed at `rung`, that seed), or (None, None)."""
    mine = passed[design][rung]
    fitness = rung_fitness(mine)
    rivals = [
        (f, seed)
        for seed in seeds
        if seed != design and rung in passed.get(seed, {}) and (f := rung_fitness(passed[seed][rung])) is not None
    ]
    if fitness is None or not rivals:
        return None, None
    best, seed = max(rivals, key=lambda rival: rival[0])  # max keeps the first (oldest) seed of equals
    noise = math.hypot(combined_stderr(mine, train_sd), combined_stderr(passed[seed][rung], train_sd))
    return ((fitness - best) / noise, seed) if noise > 0 else (None, None)


def _passed(records: Sequence[VerificationRecord], rungs: Sequence[str]) -> dict[str, dict[str, VerificationRecord]]:
    """rung -> design -> its succeeded verification there; calibration repeats measure noise, not designs."""
    passed: dict[str, dict[str, VerificationRecord]] = {rung: {} for rung in rungs}
    for r in records:
        if r.phase == "succeeded" and r.repeat == 0 and (here := passed.get(r.rung)) is not None:
            here[r.design] = r
    return passed


def massey_ratings(records: Sequence[VerificationRecord], rungs: Sequence[str]) -> dict[str, float]:
    """Rating of every design with a succeeded verification among `records` at one of `rungs`."""
    return solve_ratings(_passed(records, rungs), rungs)


def leaderboard(state: EvolutionState, spec: EvolutionSpec) -> list[Standing]:
    """Rated designs of `state`, best first, with rank, confidence, quadrant and lead over the seeds.

    With z = `selection.confidence_z` and lead_z the design's lead over the best other seed at
    its best rung in combined standard errors (see `training_spread`):
    Good: in the top `selection.good_quantile` share of rated designs (rank / rated <=
    quantile, at least one design), unless it trails that seed by z or more.
    Confident: verified at `selection.confident_rungs` rungs or at the top rung, and its lead
    (or deficit) is beyond noise, |lead_z| >= z: a design no better than the seeds by more than
    noise is not known to be good. Without a lead (no other seed verified at its best rung, or no
    noise known) a new design is not confident, as nothing shows where it stands; a seed then
    keeps the rung rule, being the reference itself.
    Equal ratings rank the older design first.
    """
    rungs = spec.ladder.rung_names()
    known = {d.name: d for d in state.designs}
    records = [r for r in state.verifications if r.design in known]
    ratings = massey_ratings(records, rungs)
    if not ratings:
        return []
    passed: dict[str, dict[str, VerificationRecord]] = {d: {} for d in ratings}
    for r in records:
        if r.phase == "succeeded" and r.rung in rungs and r.repeat == 0:
            passed[r.design][r.rung] = r
    spread = training_spread(records, rungs)
    seeds = [d.name for d in sorted(state.designs, key=lambda d: (d.order, d.name)) if d.operation == "seed"]
    z = spec.selection.confidence_z

    order = sorted(ratings, key=lambda d: (-ratings[d], known[d].order, d))
    good_count = max(1, math.floor(spec.selection.good_quantile * len(order) + 1e-9))
    board = []
    for rank, design in enumerate(order, start=1):
        verified = tuple(r for r in rungs if r in passed[design])
        best = verified[-1]
        lead, versus = _lead(design, best, passed, seeds, spread[best])
        by_rungs = len(verified) >= spec.selection.confident_rungs or best == rungs[-1]
        if lead is None:
            confident = by_rungs and known[design].operation == "seed"
        else:
            confident = by_rungs and abs(lead) >= z
        good = rank <= good_count and (lead is None or lead > -z)
        fitness = {r: f for r in verified if (f := rung_fitness(passed[design][r])) is not None}
        board.append(
            Standing(
                design=design,
                rating=ratings[design],
                rank=rank,
                quadrant=_QUADRANTS[(good, confident)],
                confident=confident,
                rungs=verified,
                fitness=fitness,
                best_rung=best,
                best_fitness=fitness.get(best),
                stderr=combined_stderr(passed[design][best], spread[best]) if best in fitness else None,
                lead_z=lead,
                versus=versus,
            )
        )
    return board
