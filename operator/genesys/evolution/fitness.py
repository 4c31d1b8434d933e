"""Fitness rank of the population: a Massey rating over per-task scores, plus confidence quadrants.

    board = leaderboard(state, spec)      # list[Standing], best first; unverified designs are absent
    ranked = ranking(state, spec)         # the same as columns (no per-rung fitness): what a plan reads

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

import numpy as np

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


@dataclass(frozen=True)
class Ranking:
    """The leaderboard as columns, one entry per rated design (a Standing without its fitness dict).

    What a plan reads: at 10,000 designs, building a Standing and a fitness dict per design
    costs about as much as rating them, and the planner needs neither.
    """

    designs: list[str]
    ratings: list[float]
    ranks: list[int]
    quadrants: list[Quadrant]
    confident: list[bool]
    rungs: list[tuple[str, ...]]
    best_rungs: list[str]
    best_fitness: list[float | None]
    stderr: list[float | None]
    lead_z: list[float | None]
    versus: list[str | None]

    @classmethod
    def of(cls, board: Sequence[Standing]) -> Ranking:
        """The columns of `board`, in its order."""
        return cls(
            designs=[s.design for s in board],
            ratings=[s.rating for s in board],
            ranks=[s.rank for s in board],
            quadrants=[s.quadrant for s in board],
            confident=[s.confident for s in board],
            rungs=[s.rungs for s in board],
            best_rungs=[s.best_rung for s in board],
            best_fitness=[s.best_fitness for s in board],
            stderr=[s.stderr for s in board],
            lead_z=[s.lead_z for s in board],
            versus=[s.versus for s in board],
        )


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
    counts: dict[str, dict[str, int]] = {rung: {} for rung in rungs}  # rung -> design -> succeeded runs
    succeeded = []
    for r in records:
        if r.phase == "succeeded" and (here := counts.get(r.rung)) is not None:
            here[r.design] = here.get(r.design, 0) + 1
            succeeded.append(r)
    # lists only for designs run more than once (the seeds), not for the thousands verified once
    runs: dict[tuple[str, str], list[float]] = {}
    for r in succeeded:
        if counts[r.rung][r.design] >= 2 and (f := rung_fitness(r)) is not None:
            runs.setdefault((r.rung, r.design), []).append(f)
    squares, dof = dict.fromkeys(rungs, 0.0), dict.fromkeys(rungs, 0)
    for (rung, _), values in runs.items():
        if len(values) >= 2:
            mean = sum(values) / len(values)
            squares[rung] += sum((v - mean) ** 2 for v in values)
            dof[rung] += len(values) - 1
    spread: dict[str, float] = {}
    estimate = 0.0
    for rung in rungs:
        if dof[rung]:
            estimate = math.sqrt(squares[rung] / dof[rung])
        spread[rung] = estimate
    return spread


def combined_stderr(record: VerificationRecord, train_sd: float) -> float:
    """Stderr of one run's fitness: evaluation sampling (0 when unknown) and training noise, independent."""
    return math.hypot(record.fitness_stderr or 0.0, train_sd)


def _seed_rivals(
    passed: Mapping[str, Mapping[str, VerificationRecord]], seeds: Sequence[str], spread: Mapping[str, float]
) -> dict[str, list[tuple[str, float, float]]]:
    """Per rung, the two best seeds there as (seed, fitness, combined stderr), the oldest first of equals.

    Two suffice: the rival of a design is the best seed other than itself.
    """
    rivals = {}
    for rung, here in passed.items():
        found = [
            (seed, f, combined_stderr(here[seed], spread[rung]))
            for seed in seeds
            if seed in here and (f := rung_fitness(here[seed])) is not None
        ]
        rivals[rung] = sorted(found, key=lambda rival: -rival[1])[:2]
    return rivals


def _lead(
    design: str, fitness: float | None, stderr: float | None, rivals: Sequence[tuple[str, float, float]]
) -> tuple[float | None, str | None]:
    """(lead of `design` in combined stderrs over the best other seed among `rivals`, that seed), or (None, None)."""
    if fitness is None or stderr is None:
        return None, None
    for seed, best, seed_stderr in rivals:
        if seed != design:
            noise = math.hypot(stderr, seed_stderr)
            return ((fitness - best) / noise, seed) if noise > 0 else (None, None)
    return None, None


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


def _shapes(
    passed: Mapping[str, Mapping[str, VerificationRecord]], rungs: Sequence[str], confident_rungs: int
) -> tuple[dict[str, int], dict[int, tuple[tuple[str, ...], str, bool]]]:
    """design -> the rungs it passed as bits, and per such set: (its rungs, the best, passes the rung rule).

    One tuple of rungs per set, shared by its designs: ten thousand equal tuples only feed the collector.
    """
    reached = dict.fromkeys(passed[rungs[0]], 1)
    for level, rung in enumerate(rungs[1:], start=1):
        for design in passed[rung]:
            reached[design] = reached.get(design, 0) | 1 << level
    shapes = {}
    for mask in set(reached.values()):
        verified = tuple(r for i, r in enumerate(rungs) if mask >> i & 1)
        shapes[mask] = verified, verified[-1], len(verified) >= confident_rungs or verified[-1] == rungs[-1]
    return reached, shapes


def _ranking(state: EvolutionState, spec: EvolutionSpec) -> tuple[Ranking, dict[str, dict[str, VerificationRecord]]]:
    """The ranking of `state`, and the verifications it rests on (rung -> design -> verification)."""
    rungs = spec.ladder.rung_names()
    known = {d.name: d for d in state.designs}
    records = [r for r in state.verifications if r.design in known]
    passed = _passed(records, rungs)
    ratings = solve_ratings(passed, rungs)
    reached, shapes = _shapes(passed, rungs, spec.selection.confident_rungs)
    spread = training_spread(records, rungs)
    seed_designs = (d for d in state.designs if d.operation == "seed")  # a handful: sort them, not every design
    seeds = [d.name for d in sorted(seed_designs, key=lambda d: (d.order, d.name))]
    rivals = _seed_rivals(passed, seeds, spread)

    names = sorted(ratings)
    orders, scores = np.array([known[d].order for d in names]), np.array([-ratings[d] for d in names])
    designs = [names[i] for i in np.lexsort((np.arange(len(names)), orders, scores)).tolist()]
    good_count = max(1, math.floor(spec.selection.good_quantile * len(designs) + 1e-9))
    z = spec.selection.confidence_z
    ranked = Ranking(
        designs=designs,
        ratings=[ratings[d] for d in designs],
        ranks=list(range(1, len(designs) + 1)),
        quadrants=[],
        confident=[],
        rungs=[],
        best_rungs=[],
        best_fitness=[],
        stderr=[],
        lead_z=[],
        versus=[],
    )
    for rank, design in enumerate(designs, start=1):
        verified, best, by_rungs = shapes[reached[design]]
        record = passed[best][design]
        fitness = rung_fitness(record)
        stderr = None if fitness is None else combined_stderr(record, spread[best])
        lead, versus = _lead(design, fitness, stderr, rivals[best])
        if lead is None:
            confident = by_rungs and known[design].operation == "seed"
        else:
            confident = by_rungs and abs(lead) >= z
        good = rank <= good_count and (lead is None or lead > -z)
        ranked.quadrants.append(_QUADRANTS[(good, confident)])
        ranked.confident.append(confident)
        ranked.rungs.append(verified)
        ranked.best_rungs.append(best)
        ranked.best_fitness.append(fitness)
        ranked.stderr.append(stderr)
        ranked.lead_z.append(lead)
        ranked.versus.append(versus)
    return ranked, passed


def ranking(state: EvolutionState, spec: EvolutionSpec) -> Ranking:
    """`leaderboard(state, spec)` as columns, best first, without the per-rung fitness of each design."""
    return _ranking(state, spec)[0]


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
    ranked, passed = _ranking(state, spec)
    return [
        Standing(
            design=design,
            rating=ranked.ratings[i],
            rank=ranked.ranks[i],
            quadrant=ranked.quadrants[i],
            confident=ranked.confident[i],
            rungs=verified,
            fitness={r: f for r in verified if (f := rung_fitness(passed[r][design])) is not None},
            best_rung=ranked.best_rungs[i],
            best_fitness=ranked.best_fitness[i],
            stderr=ranked.stderr[i],
            lead_z=ranked.lead_z[i],
            versus=ranked.versus[i],
        )
        for i, (design, verified) in enumerate(zip(ranked.designs, ranked.rungs, strict=True))
    ]
