"""Fitness rank of the population: a Massey rating over per-task scores, plus confidence quadrants.

    board = leaderboard(state, spec)      # list[Standing], best first; unverified designs are absent

Why Massey (as the paper, arXiv 2506.20249 section 4): scores of different tasks and
rungs are not on one scale, and designs are verified at different sets of rungs, so a
plain mean favours whoever skipped the hard rungs. Massey turns every comparison of two
designs on one task at one rung into a game won by the score difference and finds the
ratings r that explain all margins best: minimise sum w * (r_i - r_j - margin)^2, with
the ratings of every connected group of designs summing to zero.
Random-baseline filter: when neither design of a pair beats its random baseline on a
task at a rung, both are at chance and their difference is noise, so that game is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from genesys.api.evolution import EvolutionSpec
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

    @property
    def good(self) -> bool:
        return self.quadrant.startswith("good")


@dataclass(frozen=True)
class _Contest:
    """The games of one task at one rung: every pair of `players` except pairs of two `at_chance`."""

    weight: float
    players: tuple[int, ...]  # design indices with a score on the task
    scores: tuple[float, ...]  # their scores, aligned with players
    at_chance: tuple[int, ...]  # players at or below their random baseline (a subset of players)

    def apply(self, x: Sequence[float], out: list[float]) -> None:
        """out += weight * L x, L the Laplacian of this contest's games.

        The games form the complete graph on `players` minus the one on `at_chance`, and a
        complete graph's Laplacian is K_S x = |S| x_i - sum_S x on S: O(players), not O(pairs).
        """
        for group, sign in ((self.players, 1.0), (self.at_chance, -1.0)):
            if len(group) < 2:
                continue
            total = sum(x[i] for i in group)
            for i in group:
                out[i] += sign * self.weight * (len(group) * x[i] - total)


def rung_weight(index: int) -> float:
    """Weight of a game at rung `index` (0 = lowest).

    Doubling per rung: a larger model trained on more tokens is both a less noisy and a
    more relevant measurement (the goal is designs that scale), and far fewer designs
    reach high rungs, so their few games would otherwise be drowned by the many below.
    """
    return 2.0**index


def rung_fitness(record: VerificationRecord) -> float | None:
    """The fitness the runtime reported, else the mean task score (genesys.evaluation's definition)."""
    if record.fitness is not None:
        return record.fitness
    return sum(record.scores.values()) / len(record.scores) if record.scores else None


def _contests(records: Sequence[VerificationRecord], index: Mapping[str, int], rungs: Sequence[str]) -> list[_Contest]:
    contests = []
    for level, rung in enumerate(rungs):
        here = [r for r in records if r.rung == rung]
        for task in sorted({t for r in here for t in r.scores}):
            entrants = [r for r in here if task in r.scores]
            # no baseline known: the game cannot be shown to be noise, so it is kept
            at_chance = tuple(
                index[r.design] for r in entrants if task in r.baselines and r.scores[task] <= r.baselines[task]
            )
            contests.append(
                _Contest(
                    weight=rung_weight(level),
                    players=tuple(index[r.design] for r in entrants),
                    scores=tuple(r.scores[task] for r in entrants),
                    at_chance=at_chance,
                )
            )
    return contests


def _solve(contests: Sequence[_Contest], n: int) -> list[float]:
    """Massey normal equations L r = p by conjugate gradients.

    p = sum_c L_c s_c holds each design's summed margins. L is singular (one null vector
    per connected group of designs) but the system is consistent, and CG started at 0
    stays orthogonal to the null space: each group's ratings sum to zero, and a design
    without games gets 0.
    """

    def laplacian(x: Sequence[float]) -> list[float]:
        out = [0.0] * n
        for c in contests:
            c.apply(x, out)
        return out

    p = [0.0] * n
    for c in contests:
        s = [0.0] * n
        for i, score in zip(c.players, c.scores):
            s[i] = score
        c.apply(s, p)

    rating = [0.0] * n
    residual = p[:]
    direction = p[:]
    rr = start = sum(v * v for v in residual)
    for _ in range(2 * n + 10):  # exact arithmetic needs <= n steps; the rest absorbs rounding
        if rr <= 1e-24 * start or rr == 0.0:
            break
        ld = laplacian(direction)
        curvature = sum(a * b for a, b in zip(direction, ld))
        if curvature <= 0:
            break
        step = rr / curvature
        rating = [r + step * d for r, d in zip(rating, direction)]
        residual = [r - step * v for r, v in zip(residual, ld)]
        rr_next = sum(v * v for v in residual)
        direction = [r + (rr_next / rr) * d for r, d in zip(residual, direction)]
        rr = rr_next
    return rating


def massey_ratings(records: Sequence[VerificationRecord], rungs: Sequence[str]) -> dict[str, float]:
    """Rating of every design with a succeeded verification among `records` at one of `rungs`."""
    # one verification per design and rung counts (the planner never starts a second one)
    mine = list({(r.design, r.rung): r for r in records if r.phase == "succeeded" and r.rung in rungs}.values())
    designs = sorted({r.design for r in mine})
    index = {d: i for i, d in enumerate(designs)}
    ratings = _solve(_contests(mine, index, rungs), len(designs))
    # rounding gives equal evidence equal ratings despite solver noise, so ties break by age
    return {d: round(ratings[index[d]], 12) for d in designs}


def leaderboard(state: EvolutionState, spec: EvolutionSpec) -> list[Standing]:
    """Rated designs of `state`, best first, with rank, confidence and quadrant.

    Confident: verified at `selection.confident_rungs` rungs or at the top rung. Good: in
    the top `selection.good_quantile` share of rated designs, i.e. rank / rated <= quantile
    (the best design is always good).
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
        if r.phase == "succeeded" and r.rung in rungs:
            passed[r.design][r.rung] = r

    order = sorted(ratings, key=lambda d: (-ratings[d], known[d].order, d))
    good_count = max(1, math.floor(spec.selection.good_quantile * len(order) + 1e-9))
    board = []
    for rank, design in enumerate(order, start=1):
        verified = tuple(r for r in rungs if r in passed[design])
        confident = len(verified) >= spec.selection.confident_rungs or verified[-1] == rungs[-1]
        fitness = {r: f for r in verified if (f := rung_fitness(passed[design][r])) is not None}
        board.append(
            Standing(
                design=design,
                rating=ratings[design],
                rank=rank,
                quadrant=_QUADRANTS[(rank <= good_count, confident)],
                confident=confident,
                rungs=verified,
                fitness=fitness,
                best_rung=verified[-1],
                best_fitness=fitness.get(verified[-1]),
            )
        )
    return board
