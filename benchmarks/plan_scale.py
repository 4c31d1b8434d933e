"""Time of one `genesys.evolution.plan` call on large synthetic runs: the operator calls it every tick.

    python benchmarks/plan_scale.py [--sizes 1000,10000] [--repeats 5] [--seed 0]

Each size builds a run deterministically from --seed: five seeds with calibration repeats,
designs bred from earlier ones, a five-rung ladder whose budgets still have room, the best
fifth of each rung promoted to the next, a few failed and running verifications and sessions.
Prints one JSON object: per size the median plan() seconds (wall and CPU: on a shared machine
CPU time is the steadier), the Massey solve alone against the pure-Python conjugate-gradient
solve it replaced (kept below as the reference; CPU seconds, and their ratio), the largest
rating difference, and whether plan() decides the same with the reference solver.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from unittest import mock

from genesys.api.evolution import EvolutionSpec
from genesys.evolution import fitness, plan
from genesys.evolution.massey import solve_ratings
from genesys.evolution.state import DesignRecord, EvolutionState, SessionRecord, VerificationRecord

SEEDS = ("gpt2", "mamba2", "retnet", "rwkv6", "ttt")
TASKS = tuple(f"task{i}" for i in range(9))
RUNGS = ("paper-14m", "paper-31m", "paper-70m", "paper-125m", "paper-350m")
PROMOTED = 0.2  # share of a rung's succeeded designs verified at the rung above
Contest = tuple[float, list[int], list[float], list[int]]  # weight, players, their scores, players at chance


def synthetic_run(size: int, seed: int) -> tuple[EvolutionState, EvolutionSpec]:
    """A run with `size` designs (seeds included) in the middle of its life; deterministic in `seed`."""
    rng = random.Random(seed)
    spec = EvolutionSpec.model_validate({
        "seeds": list(SEEDS),
        # the pyramid (ratio 0.25) leaves ~20% room at the lowest rung and more above, so plan() starts work
        "ladder": {"preset": "paper", "topRuns": math.ceil(1.2 * size / 4**4), "seedRepeats": 3},
        "parallelism": {"designSessions": 8, "verifications": 32},
        "seed": seed,
    })
    designs = [DesignRecord(name, "seed", order=i) for i, name in enumerate(SEEDS)]
    quality = {name: rng.uniform(0.3, 0.6) for name in SEEDS}
    sessions = []
    while len(designs) < size:
        operation = rng.choices(["mutation", "crossover", "scratch"], weights=[75, 20, 5])[0]
        recent = range(max(0, len(designs) - 2000), len(designs))  # parents from the last 2000 designs
        chosen = rng.sample(recent, {"mutation": 1, "crossover": 2, "scratch": 0}[operation])
        parents = tuple(designs[i].name for i in chosen)
        name = f"design-{len(sessions) + 1:05d}"
        if rng.random() < 0.05:
            sessions.append(SessionRecord(name, operation, parents, "failed"))
            continue
        sessions.append(SessionRecord(name, operation, parents, "succeeded"))
        designs.append(DesignRecord(name, operation, parents, order=len(designs)))
        base = statistics.fmean(quality[p] for p in parents) if parents else 0.45
        quality[name] = min(0.95, max(0.05, base + rng.gauss(0, 0.05)))
    for i in range(4):
        name = f"design-{len(sessions) + 1:05d}"
        sessions.append(SessionRecord(name, "mutation", (designs[-1 - i].name,), "running"))

    hard = {task: rng.random() < 0.3 for task in TASKS}  # these tasks sit near chance
    records: list[VerificationRecord] = []
    running = 16

    def verify(design: str, level: int, repeat: int = 0) -> str:
        nonlocal running
        rung = RUNGS[level]
        name = f"{design}-{rung}" if repeat == 0 else f"{design}-{rung}-r{repeat}"
        roll = rng.random()
        if roll < 0.002 and running > 0:
            running -= 1
            records.append(VerificationRecord(name, design, rung, "running", repeat=repeat))
            return "running"
        if roll < 0.03:
            records.append(VerificationRecord(name, design, rung, "failed", device_seconds=60.0, charged=roll < 0.02,
                                              repeat=repeat))
            return "failed"
        level_gain = 0.04 * level
        scores = {
            t: (0.2 + 0.1 * quality[design] if hard[t] else quality[design] + level_gain) + rng.gauss(0, 0.03)
            for t in TASKS
        }
        records.append(VerificationRecord(
            name, design, rung, "succeeded", scores, dict.fromkeys(TASKS, 0.25),
            fitness=statistics.fmean(scores.values()), device_seconds=rng.uniform(100, 1500) * 2**level,
            repeat=repeat, fitness_stderr=0.01,
        ))
        return "succeeded"

    passed = [d.name for d in designs[:-6] if verify(d.name, 0) == "succeeded"]  # the newest wait for their first run
    for name in SEEDS:
        if any(r.design == name and r.phase == "succeeded" for r in records):
            for k in (1, 2):
                verify(name, 0, k)
    for level in range(1, len(RUNGS)):
        ranked = sorted(passed, key=lambda d: quality[d] + rng.gauss(0, 0.02), reverse=True)
        passed = [d for d in ranked[: round(PROMOTED * len(ranked))] if verify(d, level) == "succeeded"]
    return EvolutionState(tuple(designs), tuple(sessions), tuple(records), elapsed_hours=40.0), spec


def passed_by_rung(
    records: Sequence[VerificationRecord], rungs: Sequence[str]
) -> dict[str, dict[str, VerificationRecord]]:
    """rung -> design -> its succeeded verification there, the input of both solvers."""
    passed: dict[str, dict[str, VerificationRecord]] = {rung: {} for rung in rungs}
    for r in records:
        if r.phase == "succeeded" and r.repeat == 0 and r.rung in passed:
            passed[r.rung][r.design] = r
    return passed


def reference_contests(
    passed: dict[str, dict[str, VerificationRecord]], rungs: Sequence[str], index: dict[str, int]
) -> list[Contest]:
    """The games of each task at each rung, as the reference solver reads them."""
    contests = []
    for level, rung in enumerate(rungs):
        here = list(passed[rung].values())
        for task in sorted({t for r in here for t in r.scores}):
            entrants = [r for r in here if task in r.scores]
            at_chance = [
                index[r.design] for r in entrants if task in r.baselines and r.scores[task] <= r.baselines[task]
            ]
            players, scores = [index[r.design] for r in entrants], [r.scores[task] for r in entrants]
            contests.append((2.0**level, players, scores, at_chance))
    return contests


def reference_apply(contests: Sequence[Contest], x: Sequence[float], out: list[float]) -> None:
    """out += L x, L the Laplacian of all games: per contest, the complete graph minus the one at chance."""
    for weight, players, _, at_chance in contests:
        for group, sign in ((players, 1.0), (at_chance, -1.0)):
            if len(group) >= 2:
                total = sum(x[i] for i in group)
                for i in group:
                    out[i] += sign * weight * (len(group) * x[i] - total)


def reference_ratings(passed: dict[str, dict[str, VerificationRecord]], rungs: Sequence[str]) -> dict[str, float]:
    """The rating as computed before numpy: per-contest Laplacians applied in pure Python, plain CG."""
    designs = sorted({d for here in passed.values() for d in here})
    index = {d: i for i, d in enumerate(designs)}
    n = len(designs)
    contests = reference_contests(passed, rungs, index)
    p = [0.0] * n
    for contest in contests:
        s = [0.0] * n
        for i, score in zip(contest[1], contest[2], strict=True):
            s[i] = score
        reference_apply([contest], s, p)
    rating, residual, direction = [0.0] * n, p[:], p[:]
    rr = start = sum(v * v for v in residual)
    for _ in range(2 * n + 10):
        if rr <= 1e-24 * start or rr == 0.0:
            break
        ld = [0.0] * n
        reference_apply(contests, direction, ld)
        curvature = sum(a * b for a, b in zip(direction, ld, strict=True))
        if curvature <= 0:
            break
        step = rr / curvature
        rating = [r + step * d for r, d in zip(rating, direction, strict=True)]
        residual = [r - step * v for r, v in zip(residual, ld, strict=True)]
        rr_next = sum(v * v for v in residual)
        direction = [r + (rr_next / rr) * d for r, d in zip(residual, direction, strict=True)]
        rr = rr_next
    return {d: round(rating[index[d]], 12) for d in designs}


def medians(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `repeats` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        started, used = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    return statistics.median(wall), statistics.median(cpu)


def measure(size: int, seed: int, repeats: int) -> dict:
    state, spec = synthetic_run(size, seed)
    rungs = spec.ladder.rung_names()
    passed = passed_by_rung(state.verifications, rungs)
    actions = plan(state, spec, random.Random(seed))
    with mock.patch.object(fitness, "solve_ratings", reference_ratings):
        reference_actions = plan(state, spec, random.Random(seed))
    ratings, reference = solve_ratings(passed, rungs), reference_ratings(passed, rungs)
    wall, cpu = medians(lambda: plan(state, spec, random.Random(seed)), repeats)
    _, massey = medians(lambda: solve_ratings(passed, rungs), repeats)
    _, reference_seconds = medians(lambda: reference_ratings(passed, rungs), max(1, repeats // 2))

    def order(values: dict[str, float]) -> list[str]:
        return sorted(values, key=lambda d: (-values[d], d))

    return {
        "designs": len(state.designs),
        "verifications": len(state.verifications),
        "actions": len(actions),
        "plan_seconds": round(wall, 4),
        "plan_cpu_seconds": round(cpu, 4),
        "massey_cpu_seconds": round(massey, 4),
        "reference_massey_cpu_seconds": round(reference_seconds, 4),
        "massey_speedup": round(reference_seconds / massey, 1),
        "max_rating_difference": max(abs(ratings[d] - reference[d]) for d in reference),
        "same_rating_order": order(ratings) == order(reference),
        "same_decisions": actions == reference_actions,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000", help="designs per synthetic run, seeds included")
    ap.add_argument("--repeats", type=int, default=5, help="plan() calls per size; the median is reported")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    sizes = {size: measure(int(size), args.seed, args.repeats) for size in args.sizes.split(",") if size}
    print(json.dumps({"benchmark": "plan_scale", "seed": args.seed, "repeats": args.repeats, "sizes": sizes}, indent=2))


if __name__ == "__main__":
    main()
