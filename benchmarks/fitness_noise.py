"""Training noise of the seed designs' fitness: each seed verified with several training seeds.

    python benchmarks/fitness_noise.py [--rung cpu-1] [--seeds 3] [--designs gpt2,mamba2,retnet,rwkv6,ttt]
                                       [--set key=value ...] [--out runs/bench-noise] [--jobs 1]

A verification's `fitness_stderr` is the evaluation's sampling error only; this measures
how far another training seed moves fitness, to compare the two. Each (design, seed) runs
`python -m genesys.trainer.verification` (no checker) into OUT/<design>/seed-<s>/, `--jobs`
at a time with GENESYS_THREADS = cores / jobs each; finished runs are kept, so a rerun
resumes. Prints one JSON object: per design the fitness of each seed, mean, sd, stderr of
the mean, the evaluation stderr and train_sd / eval_stderr (and the same per task).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from genesys.trainer.noise import noise_summary, read_result, seed_dir

SEED_DESIGNS = "gpt2,mamba2,retnet,rwkv6,ttt"


def run_all(runs: list[tuple[str, int]], args: argparse.Namespace) -> None:
    """Verify every (design, seed) not finished yet, at most `args.jobs` at once."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "GENESYS_THREADS": str(max(1, cores // args.jobs))}
    todo = [(d, s) for d, s in runs if read_result(seed_dir(args.out / d, s)) is None]
    running: list[tuple[subprocess.Popen, Path]] = []
    while todo or running:
        while todo and len(running) < args.jobs:
            design, seed = todo.pop(0)
            out = seed_dir(args.out / design, seed)
            out.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-m", "genesys.trainer.verification", design, "--rung", args.rung,
                       "--out", str(out), "--seed", str(seed), "--no-check",
                       *(a for pair in args.set for a in ("--set", pair))]
            with open(out / "bench.log", "w", encoding="utf-8") as log:
                running.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), out))
        time.sleep(0.5)
        running = [(p, out) for p, out in running if p.poll() is None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rung", default="cpu-1")
    ap.add_argument("--seeds", type=int, default=3, help="training seeds 0..N-1 per design")
    ap.add_argument("--designs", default=SEED_DESIGNS)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a rung field")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-noise"))
    ap.add_argument("--jobs", type=int, default=1, help="verifications at once (each a subprocess)")
    args = ap.parse_args()
    if args.seeds < 1 or args.jobs < 1:
        ap.error("--seeds and --jobs must be at least 1")
    designs = [d for d in args.designs.split(",") if d]
    started = time.time()
    run_all([(d, s) for d in designs for s in range(args.seeds)], args)
    rows = {}
    for design in designs:
        results = [read_result(seed_dir(args.out / design, s)) or {"status": "failed", "reason": "no_result",
                   "message": f"see {seed_dir(args.out / design, s) / 'bench.log'}", "config": {"options": {"seed": s}}}
                   for s in range(args.seeds)]
        summary = noise_summary(results)
        rows[design] = {"seeds": summary["seeds"], "failed": summary["failed"], **summary["fitness"],
                        "tasks": summary["tasks"]}
    print(json.dumps({"benchmark": "fitness_noise", "rung": args.rung, "overrides": args.set, "seeds": args.seeds,
                      "jobs": args.jobs, "wall_seconds": round(time.time() - started, 1), "designs": rows}, indent=2))


if __name__ == "__main__":
    main()
