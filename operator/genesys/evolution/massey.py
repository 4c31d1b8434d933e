"""The Massey rating's linear algebra: the least-squares ratings of all games, solved exactly.

    ratings = solve_ratings(passed, rungs)   # passed: rung -> design -> its verification there

The games (see `genesys.evolution.fitness`) are every pair of designs on one task at one
rung, except pairs of two designs at chance. A task's games form the complete graph on its
players minus the one on its players at chance, so the normal equations L r = p are a
diagonal minus a low-rank term: L = D - B W B^T, B the design x group incidence with two
groups per task and rung. That makes the solve one small dense system in the groups,
O(verifications x tasks) in all, where conjugate gradients over the designs took most of
a plan at 10,000 designs. numpy does the arithmetic; products over all designs go through
einsum rather than BLAS, whose threads only contend with the caller on matrices this thin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter

import numpy as np

from genesys.evolution.state import VerificationRecord


def rung_weight(index: int) -> float:
    """Weight of a game at rung `index` (0 = lowest).

    Doubling per rung: a larger model trained on more tokens is both a less noisy and a
    more relevant measurement (the goal is designs that scale), and far fewer designs
    reach high rungs, so their few games would otherwise be drowned by the many below.
    """
    return 2.0**index


@dataclass(frozen=True)
class _RungGames:
    """The games of one rung as weighted groups of designs, every pair in a group playing.

    A task gives two groups: its players (weight w) and its players at chance (weight -w).
    """

    rows: np.ndarray  # design index of each verification at the rung
    member: np.ndarray  # verification x group: 1.0 where its design is in the group
    weight: np.ndarray  # per group
    scores: np.ndarray  # verification x group: its score on the group's task, 0.0 outside


def _table(maps: Sequence[Mapping[str, float]], keys: Sequence[str]) -> np.ndarray:
    """The values of `maps` as a len(maps) x len(keys) array, NaN where a key is missing."""
    shape = (len(maps), len(keys))
    if not keys:
        return np.zeros(shape)
    try:  # every key present, as evaluations report them: one C-level lookup per map
        get = itemgetter(*keys) if len(keys) > 1 else lambda m: (m[keys[0]],)
        flat = np.fromiter(chain.from_iterable(map(get, maps)), float, shape[0] * shape[1])
    except KeyError:
        fill = [math.nan] * len(keys)
        flat = np.fromiter(chain.from_iterable(map(m.get, keys, fill) for m in maps), float, shape[0] * shape[1])
    return flat.reshape(shape)


def _rung_games(level: int, here: Mapping[str, VerificationRecord], index: Mapping[str, int]) -> _RungGames:
    """The games at rung number `level` among `here`, each design's verification there."""
    records = list(here.values())
    score_maps = [r.scores for r in records]
    tasks = sorted(set().union(*score_maps))
    scores = _table(score_maps, tasks)
    plays = ~np.isnan(scores)
    # no baseline known (NaN): the game cannot be shown to be noise, so it is kept
    with np.errstate(invalid="ignore"):
        chance = plays & (scores <= _table([r.baselines for r in records], tasks))
    players, at_chance = plays.sum(0), chance.sum(0)
    # groups of one hold no pair, and a task where every player is at chance holds no game
    has_games = at_chance < players
    keep, keep_chance = has_games & (players >= 2), has_games & (at_chance >= 2)
    member = np.hstack([plays[:, keep], chance[:, keep_chance]]).astype(float)
    weight = rung_weight(level) * np.r_[np.ones(keep.sum()), -np.ones(keep_chance.sum())]
    scores = np.nan_to_num(np.hstack([scores[:, keep], scores[:, keep_chance]])) * member
    rows = np.fromiter(map(index.__getitem__, here), np.intp, len(here))
    return _RungGames(rows, member, weight, scores)


def _margins(rungs: Sequence[_RungGames], n: int) -> tuple[np.ndarray, np.ndarray]:
    """p (each design's weighted margins) and the diagonal D of L = D - B W B^T."""
    p, d = np.zeros(n), np.zeros(n)
    for g in rungs:  # per-design sums over its groups: row reductions, so equal rows give equal bits
        weighted_size = g.weight * g.member.sum(0)
        # p_i = sum over i's groups of w (|g| s_i - sum of the group's scores); s is 0 outside
        p[g.rows] += (g.scores * weighted_size).sum(1) - (g.member * (g.weight * g.scores.sum(0))).sum(1)
        d[g.rows] += (g.member * weighted_size).sum(1)
    return p, d


def _group_system(
    rungs: Sequence[_RungGames], bounds: np.ndarray, p: np.ndarray, inv_d: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """B^T D^-1 B and B^T D^-1 p, one block per pair of rungs (designs at both couple their groups)."""
    cross, q = np.zeros((bounds[-1], bounds[-1])), np.zeros(bounds[-1])
    at = np.full(inv_d.size, -1)
    for a, ga in enumerate(rungs):
        mine, weighted = slice(bounds[a], bounds[a + 1]), ga.member * inv_d[ga.rows, None]
        q[mine] = np.einsum("ig,i->g", weighted, p[ga.rows])
        cross[mine, mine] = np.einsum("ig,ih->gh", weighted, ga.member)
        at[:] = -1
        at[ga.rows] = np.arange(ga.rows.size)
        for b in range(a + 1, len(rungs)):
            gb, theirs = rungs[b], slice(bounds[b], bounds[b + 1])
            both = at[gb.rows] >= 0
            block = np.einsum("ig,ih->gh", weighted[at[gb.rows[both]]], gb.member[both])
            cross[mine, theirs], cross[theirs, mine] = block, block.T
    return cross, q


def _solve(rungs: Sequence[_RungGames], n: int) -> np.ndarray:
    """Massey normal equations L r = p, solved exactly in the small space of groups.

    With z = W B^T r, L r = p is (W^-1 - B^T D^-1 B) z = B^T D^-1 p, then r = D^-1 (p + B z).
    Both systems are singular, one null vector per connected group of designs; adding the small
    system's (known) null vectors makes it regular and keeps the solution. Each connected group
    is then centred to sum zero; a design without games gets 0.
    """
    rungs = [g for g in rungs if g.weight.size]
    if not rungs:
        return np.zeros(n)
    p, d = _margins(rungs, n)
    inv_d = np.divide(1.0, d, out=np.zeros(n), where=d > 0)
    bounds = np.cumsum([0, *(g.weight.size for g in rungs)])
    cross, q = _group_system(rungs, bounds, p, inv_d)
    weight = np.concatenate([g.weight for g in rungs])
    size = np.concatenate([g.member.sum(0) for g in rungs])
    component = _components(cross > 0)  # groups sharing a design are connected
    system = np.diag(1 / weight) - cross
    for k in np.unique(component):
        null = np.where(component == k, weight * size, 0.0)
        system += np.outer(null, null) / (null @ null)
    z = np.linalg.solve(system, q)

    bz, of = np.zeros(n), np.full(n, -1)
    for a, g in enumerate(rungs):
        bz[g.rows] += (g.member * z[bounds[a] : bounds[a + 1]]).sum(1)
        playing = g.member.any(1)
        of[g.rows[playing]] = component[bounds[a] + g.member[playing].argmax(1)]
    rating = np.divide(p + bz, d, out=np.zeros(n), where=d > 0)
    rated = of >= 0
    totals = np.bincount(of[rated], rating[rated], minlength=bounds[-1])
    counts = np.bincount(of[rated], minlength=bounds[-1])
    rating[rated] -= totals[of[rated]] / counts[of[rated]]
    return rating


def _components(linked: np.ndarray) -> np.ndarray:
    """Connected components of a symmetric boolean adjacency with a full diagonal, named by first node."""
    reach = linked
    while True:  # squaring doubles the path length covered
        wider = reach @ reach
        if (wider == reach).all():
            return reach.argmax(0)
        reach = wider


def solve_ratings(passed: Mapping[str, Mapping[str, VerificationRecord]], rungs: Sequence[str]) -> dict[str, float]:
    """Massey rating of every design in `passed` (rung -> design -> its one verification there)."""
    index = {d: i for i, d in enumerate(dict.fromkeys(chain.from_iterable(passed[rung] for rung in rungs)))}
    games = [_rung_games(level, passed[rung], index) for level, rung in enumerate(rungs) if passed[rung]]
    # rounding gives equal evidence equal ratings despite solver noise, so ties break by age
    return dict(zip(index, np.round(_solve(games, len(index)), 12).tolist(), strict=True))
