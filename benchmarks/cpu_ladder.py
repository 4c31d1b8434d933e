"""Wall time of each rung of the `cpu` ladder for one design: train and evaluate `local`.

    python benchmarks/cpu_ladder.py [--design gpt2] [--rungs cpu-1,cpu-2,cpu-3] [--out runs/bench-ladder]

Runs the same verification as `genesys verify` (without the checker) per rung and
prints one JSON object with per-rung training and evaluation seconds, tokens/s,
losses and fitness.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from genesys.trainer.presets import get_rung
from genesys.trainer.verification import verify


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--design", default="gpt2")
    ap.add_argument("--rungs", default="cpu-1,cpu-2,cpu-3")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-ladder"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.rungs.split(","):
        rung = get_rung(name)
        result = verify(args.design, rung, args.out / f"{args.design}-{name}", check=False)
        train, evaluation = result.train, result.evaluation
        rows.append({
            "rung": name,
            "status": result.status,
            "params_non_embedding": train.params.get("non_embedding") if train else None,
            "tokens": train.tokens if train else None,
            "train_seconds": round(train.wall_seconds, 1) if train else None,
            "tokens_per_second": round(train.tokens / train.wall_seconds, 1) if train else None,
            "eval_seconds": round(evaluation.seconds, 1) if evaluation else None,
            "total_seconds": round(result.wall_seconds, 1),
            "final_loss": train.final_loss if train else None,
            "heldout_loss": train.heldout_loss if train else None,
            "fitness": result.fitness,
            "baseline_fitness": evaluation.baseline_fitness if evaluation else None,
        })
    summary = {"benchmark": "cpu_ladder", "design": args.design, "threads": args.threads, "rungs": rows}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
