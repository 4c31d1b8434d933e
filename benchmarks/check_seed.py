"""Wall time of the symbolic checker on seed designs, per check and in total.

    python benchmarks/check_seed.py                  # the gpt2 seed
    python benchmarks/check_seed.py --seed mamba2 --seed ttt
    python benchmarks/check_seed.py --all --repeat 2

Prints one JSON object: for each seed and run, the seconds of every check, the
sandboxed process's wall and CPU time, and the total wall time of `check_design`
(target: <= ~20 s for a seed on 2 cores). The machine's load average is included
because the time of a shared machine varies several-fold with its neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from genesys.gau import load_design, seed_names
from genesys.gau.checker import CheckConfig, check_design


def run_once(seed: str, config: CheckConfig) -> dict:
    start = time.perf_counter()
    report = check_design(load_design(seed), config)
    wall = time.perf_counter() - start
    sandbox = report.check("sandbox").details
    child_wall = sandbox.get("wall_seconds") or 0.0
    return {
        "passed": report.passed,
        "total_seconds": round(wall, 2),
        "checks": {c.name: round(c.seconds, 2) for c in report.checks},
        "statuses": {c.name: c.status for c in report.checks},
        "child_wall_seconds": round(child_wall, 2),
        # the child's start: interpreter, torch import, limits, text sample, warm-up
        "child_startup_seconds": round(child_wall - sum(c.seconds for c in report.checks[1:-1]), 2),
        "child_cpu_seconds": round(sandbox.get("cpu_seconds") or 0.0, 2),
        "complexity_exponent": report.complexity_exponent,
        "efficiency_ratios": {k: round(v, 3) for k, v in report.check("efficiency").details.get("ratios", {}).items()},
        "load_average_after": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", action="append", help="seed design to check (repeatable; default gpt2)")
    parser.add_argument("--all", action="store_true", help="check every seed of the library")
    parser.add_argument("--repeat", type=int, default=1, help="runs per seed (default 1)")
    args = parser.parse_args()
    seeds = seed_names() if args.all else (args.seed or ["gpt2"])
    config = CheckConfig()
    out = {
        "cpus": os.cpu_count(),
        "threads": config.threads,
        "load_average_before": os.getloadavg()[0],
        "seeds": {seed: [run_once(seed, config) for _ in range(args.repeat)] for seed in seeds},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
