"""Training noise of one design at one rung, from verifications that differ only in the training seed.

    summary = noise_summary(results)     # results: VerificationResults (result.json) of seeds s, s+1, ...

A verification's `fitness_stderr` covers the evaluation's sampling of items only; training
the same design again with another seed moves its fitness too (at cpu-1 by ~0.01-0.03),
and only repeated runs show by how much. Both `genesys verify --repeats K` (OUT/noise.json)
and `benchmarks/fitness_noise.py` summarise their runs with this module, which needs
neither torch nor the trainer, so it reads result files written anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genesys.api.artifacts import RESULT_FILE
from genesys.api.contract import ContractError
from genesys.api.results import VerificationResult

NOISE = "noise.json"


def seed_dir(out: Path, seed: int) -> Path:
    """Where the run with training seed `seed` of a repeated verification writes (resumable per seed)."""
    return out / f"seed-{seed}"


def read_result(out_dir: Path) -> VerificationResult | None:
    """A finished (succeeded or failed) result.json in `out_dir`, else None: the run is still to do
    (no file, an interrupted run, or a file that does not parse, which a rerun replaces)."""
    path = out_dir / RESULT_FILE
    try:
        result = VerificationResult.from_json(path.read_text(encoding="utf-8"), str(path))
    except (OSError, ContractError):
        return None
    return result if result.status in ("succeeded", "failed") else None


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample sd across the runs (None below 2 runs) and the stderr of the mean."""
    n = len(values)
    mean = sum(values) / n if n else None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n >= 2 else None
    return {"values": list(values), "mean": mean, "sd": sd, "sem": sd / math.sqrt(n) if sd is not None else None}


def _rms(stderrs: Sequence[float | None]) -> float | None:
    """The typical evaluation stderr of one run (root mean square); None when any run lacks one."""
    if not stderrs or any(s is None for s in stderrs):
        return None
    return math.sqrt(sum(s * s for s in stderrs) / len(stderrs))


def _with_eval(values: Sequence[float], stderrs: Sequence[float | None]) -> dict[str, Any]:
    out = spread(values)
    out["eval_stderr"] = _rms(stderrs)
    ratio_ok = out["sd"] is not None and out["eval_stderr"]
    out["train_sd_over_eval_stderr"] = out["sd"] / out["eval_stderr"] if ratio_ok else None
    return out


def noise_summary(results: Sequence[VerificationResult]) -> dict[str, Any]:
    """Per task and for fitness: values by seed, mean, sd across seeds, stderr of the mean, evaluation stderr.

    `train_sd_over_eval_stderr` > 1 means training noise dominates what `fitness_stderr` shows.
    Failed runs are listed with their reason and left out of the statistics.
    """
    ok = [r for r in results if r.status == "succeeded" and r.fitness is not None and r.evaluation is not None]
    scores = [r.evaluation.scores for r in ok if r.evaluation is not None]
    tasks = sorted(set.intersection(*(set(s) for s in scores))) if scores else []
    return {
        "design": results[0].design if results else None,
        "rung": results[0].rung if results else None,
        "seeds": [_seed(r) for r in ok],
        "failed": [{"seed": _seed(r), "reason": r.reason, "message": r.message} for r in results if r not in ok],
        "fitness": _with_eval([float(r.fitness) for r in ok if r.fitness is not None], [r.fitness_stderr for r in ok]),
        "tasks": {t: _with_eval([s[t].score for s in scores], [s[t].stderr for s in scores]) for t in tasks},
    }


def _seed(result: VerificationResult) -> int | None:
    return result.config.get("options", {}).get("seed")
