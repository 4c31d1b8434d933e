"""Share of GP designer candidates that pass the symbolic checker at the first try.

    python benchmarks/gp_designer_pass_rate.py                 # 40 per operation, quick checker
    python benchmarks/gp_designer_pass_rate.py -n 10 --operation mutation --scale full

For each operation, N candidates are drawn from the 5 seeds (mutation: each seed in
turn; crossover: random pairs from the seeds and 3 unchecked mutants of each seed;
scratch: no parents), skipping structural duplicates of the seeds and of earlier
candidates as a session does, and each is checked once, without retry. Prints JSON:
per operation {candidates, passed, pass_rate, failures}, overall, seconds (progress
goes to stderr). The checker's time ratios vary with the machine's load.
Target: overall pass rate >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

from genesys.agents.gp import NoCandidateError, fingerprint, generate
from genesys.agents.gp.session import failure_reason
from genesys.gau import seed_design, seed_names
from genesys.gau.checker import CheckConfig, check_design, quick_config

OPERATIONS = ("mutation", "crossover", "scratch")


def crossover_pool(seeds: list, per_seed: int = 3) -> list:
    """The seeds and a few (unchecked) mutants of each, like a population one generation on.

    The seeds alone recombine into only a handful of structurally new designs: four of
    them wire the same pre-norm block and differ in one or two units."""
    pool, prints = list(seeds), {fingerprint(s) for s in seeds}
    for k, seed in enumerate(seeds):
        rng = random.Random(k)
        for j in range(per_seed):
            mutant = next(m for m in (generate("mutation", [seed], f"{seed.name}-mutant-{j}", rng)
                                      for _ in range(100)) if fingerprint(m) not in prints)
            prints.add(fingerprint(mutant))
            pool.append(mutant)
    return pool


def draw(operation: str, i: int, seeds: list, pool: list, seen: set[str], rng: random.Random):
    """A structurally new candidate, as a session would draw it (mutation: seed i; crossover:
    random pairs from the pool, another pair when one gives nothing new)."""
    for _ in range(200):
        if operation == "mutation":
            parents = [seeds[i % len(seeds)]]
        elif operation == "crossover":
            parents = rng.sample(pool, 2)
        else:
            parents = []
        try:
            design = generate(operation, parents, f"bench-{operation}-{i}", rng)
        except NoCandidateError:
            continue
        if fingerprint(design) not in seen:
            return design
    raise SystemExit(f"{operation}: no new candidate after {i} candidates")


def run(operation: str, n: int, seeds: list, pool: list, seen: set[str], config: CheckConfig, base_seed: int) -> dict:
    passed, failures = 0, []
    for i in range(n):
        rng = random.Random(base_seed * 100_003 + i)
        design = draw(operation, i, seeds, pool, seen, rng)
        seen.add(fingerprint(design))
        report = check_design(design, config).to_dict()
        if report["passed"]:
            passed += 1
        else:
            failures.append({"title": design.spec.proposal.title, "reason": failure_reason(report)})
        print(f"{operation} {i + 1}/{n}: {'pass' if report['passed'] else 'FAIL'} "
              f"({report['seconds']:.1f} s) {design.spec.proposal.title}", flush=True, file=sys.stderr)
    return {"candidates": n, "passed": passed, "pass_rate": round(passed / n, 3) if n else None,
            "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=40, help="candidates per operation (default 40)")
    parser.add_argument("--operation", action="append", choices=OPERATIONS, help="repeatable; default all three")
    parser.add_argument("--scale", choices=("quick", "full"), default="quick", help="checker sizes (default quick)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the candidates")
    args = parser.parse_args()
    config = quick_config() if args.scale == "quick" else CheckConfig()
    seeds = [seed_design(s) for s in seed_names()]
    pool = crossover_pool(seeds)
    seen = {fingerprint(s) for s in pool}
    start = time.perf_counter()
    out: dict = {}
    for operation in args.operation or OPERATIONS:
        out[operation] = run(operation, args.n, seeds, pool, seen, config, args.seed)
    total = sum(v["candidates"] for v in out.values())
    ok = sum(v["passed"] for v in out.values())
    out["overall"] = {"candidates": total, "passed": ok, "pass_rate": round(ok / total, 3) if total else None}
    out["seconds"] = round(time.perf_counter() - start, 1)
    out["scale"] = args.scale
    out["load_average"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
