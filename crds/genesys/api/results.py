"""What a verification and the symbolic checker report: `result.json` and `check.json`.

    result = VerificationResult.from_json(path.read_text(), str(path))
    result.status, result.reason, result.fitness, result.scores, result.train.tokens

The trainer writes these (genesys.trainer.verification, genesys.gau.checker); the
runtimes read them and the core (genesys.evolution.outcomes) decides what they mean.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from genesys.api.contract import Contract
from genesys.api.vocabulary import VerificationFailure, VerificationStatus

CheckStatus = Literal["pass", "fail", "warn", "skipped"]


class CheckItem(Contract):
    """One named check of the symbolic checker."""

    name: str
    status: CheckStatus
    message: str = ""
    seconds: float = 0.0
    details: dict[str, Any] = Field(default_factory=dict)
    unit: str | None = None  # the unit the message is about, when one is to blame
    line: int | None = None  # the line in that unit's code


class CheckReport(Contract):
    """The checker's verdict on one design (check.json; the `check` of a result)."""

    schema_version: Literal[1] = Field(default=1, alias="schemaVersion")
    design: str
    passed: bool
    checks: list[CheckItem] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)  # non_embedding, total, d_model, n_block
    complexity_exponent: float | None = None  # time grows like length ** this
    seconds: float = 0.0

    @property
    def failures(self) -> list[CheckItem]:
        return [c for c in self.checks if c.status == "fail"]

    def first_failure(self) -> str:
        """`passed`, or `name: first line of its message` of the first failed check."""
        if self.passed:
            return "passed"
        if not self.failures:
            return "failed"
        first = self.failures[0]
        lines = first.message.splitlines()
        return f"{first.name}: {lines[0] if lines else 'failed'}"[:300]


class TaskResult(Contract):
    """One task's normalised score (higher is better) and the random-logits baseline on the same items."""

    task: str
    metric: str
    raw: float
    score: float
    stderr: float | None = None
    n_subtasks: int = 1
    baseline: float | None = None
    over_baseline: float | None = None


class EvaluationSummary(Contract):
    task_set: str
    fitness: float  # mean normalised score over the tasks
    fitness_stderr: float | None = None  # the evaluation's sampling error only
    baseline_fitness: float | None = None
    fitness_over_baseline: float | None = None
    scores: dict[str, TaskResult] = Field(default_factory=dict)
    n_items: dict[str, int] = Field(default_factory=dict)
    seconds: float = 0.0  # evaluating the model, without the baseline
    config: dict[str, Any] = Field(default_factory=dict)


class TrainingSummary(Contract):
    steps: int
    tokens: int
    final_loss: float
    heldout_loss: float
    wall_seconds: float
    device_seconds: float  # wall x processes
    d_model: int
    n_block: int
    params: dict[str, int] = Field(default_factory=dict)  # non_embedding, total
    reference_params: dict[str, int] = Field(default_factory=dict)
    mfu: float | None = None
    completed: bool = True  # False: stopped before the token budget (resumable)
    world_size: int = 1  # training processes (torchrun ranks)
    math: dict[str, Any] = Field(default_factory=dict)  # thread pools, reproducibility settings
    thread_history: list[tuple[int, int]] = Field(default_factory=list)  # (step, threads)


class VerificationResult(Contract):
    """result.json: one verification of one design at one rung, also when it failed."""

    schema_version: Literal[1] = Field(default=1, alias="schemaVersion")
    design: str
    rung: str
    status: VerificationStatus
    reason: VerificationFailure | None = None  # set unless succeeded
    message: str = ""
    attempt: int = Field(default=1, ge=1)  # which start of this verification wrote the result
    fitness: float | None = None
    fitness_stderr: float | None = None
    scores: dict[str, float] = Field(default_factory=dict)  # task -> normalised score
    baselines: dict[str, float] = Field(default_factory=dict)  # task -> random-logits score
    wall_seconds: float = 0.0  # check + train + evaluate
    config: dict[str, Any] = Field(default_factory=dict)  # rung, tasks, data, options as run
    math: dict[str, Any] = Field(default_factory=dict)
    check: CheckReport | None = None
    train: TrainingSummary | None = None
    evaluation: EvaluationSummary | None = None
    traceback: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> VerificationResult:
        if self.status == "succeeded":
            missing = [n for n in ("fitness", "train", "evaluation") if getattr(self, n) is None]
            if missing or not self.scores:
                raise ValueError(f"a succeeded result needs fitness, scores, train and evaluation; "
                                 f"missing: {', '.join(missing) or 'scores'}")
        elif self.reason is None:
            raise ValueError(f"a {self.status} result needs a reason")
        return self

    @property
    def threads(self) -> list[int]:
        """Training threads over time, e.g. [1, 2] when a neighbour finished."""
        if self.train is not None and self.train.thread_history:
            return [t for _, t in self.train.thread_history]
        threads = self.math.get("threads")
        return [threads] if isinstance(threads, int) else []
