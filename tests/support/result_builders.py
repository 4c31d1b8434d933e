"""Builders of the cross-process files for tests, through their genesys.api models (never by hand).

Importable by name from any test (`from result_builders import build_result`): pytest puts
tests/support on sys.path (pyproject.toml, pythonpath).
"""

from __future__ import annotations

from typing import Any

from genesys.api.results import (
    EvaluationSummary,
    TaskResult,
    TrainingSummary,
    VerificationResult,
)


def build_result(design: str = "d", rung: str = "cpu-1", status: str = "succeeded", *, fitness: float = 0.4,
                 scores: dict[str, float] | None = None, baselines: dict[str, float] | None = None,
                 fitness_stderr: float | None = 0.01, device_seconds: float = 10.0, eval_seconds: float = 2.0,
                 reason: str | None = None, message: str = "", **fields: Any) -> VerificationResult:
    """A result.json as the trainer writes it; failed/interrupted ones carry only what such a run has."""
    if status != "succeeded":
        return VerificationResult(design=design, rung=rung, status=status, reason=reason or "error",
                                  message=message, **fields)
    scores = scores if scores is not None else {"a": 0.5, "b": 0.3}
    baselines = baselines if baselines is not None else {"a": 0.25}
    train = TrainingSummary(steps=10, tokens=20480, final_loss=5.5, heldout_loss=5.0, wall_seconds=device_seconds,
                            device_seconds=device_seconds, d_model=64, n_block=2,
                            params={"non_embedding": 123, "total": 456})
    tasks = {t: TaskResult(task=t, metric="acc", raw=s, score=s, stderr=0.02, baseline=baselines.get(t))
             for t, s in scores.items()}
    evaluation = EvaluationSummary(task_set="local", fitness=fitness, fitness_stderr=fitness_stderr, scores=tasks,
                                   seconds=eval_seconds)
    return VerificationResult(design=design, rung=rung, status="succeeded", fitness=fitness,
                              fitness_stderr=fitness_stderr, scores=scores, baselines=baselines, train=train,
                              evaluation=evaluation, **fields)
