"""Per-task scores normalised as the paper does, and fitness = their mean (paper section 4).

    scores = normalise_results(lm_eval_output["results"])   # {"blimp": TaskScore, ...}
    value, stderr = fitness(scores.values())

Pure Python: no lm_eval or torch, so results can be re-scored anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

# Families whose subtasks count as ONE task (paper: BLiMP and Inverse Scaling each
# weigh like a single benchmark in the fitness, not like 67 or 11 of them).
FAMILIES = {"blimp_": "blimp", "inverse_scaling_": "inverse_scaling"}
# lm-eval metric -> normaliser to [0, 1], higher is better; the first present wins.
METRIC_PREFERENCE = ("acc_norm", "acc", "mcc", "bits_per_byte")


@dataclass(frozen=True)
class TaskScore:
    """One task's normalised score (higher is better, about [0, 1]) and where it came from."""

    task: str  # benchmark name: "cola", "blimp" (its subtasks averaged), "genesys_bpb"
    metric: str  # the lm-eval metric it was normalised from
    raw: float  # that metric as lm-eval reports it (for a family: the mean over subtasks)
    score: float
    stderr: float | None  # of `score`; None when lm-eval gave none
    n_subtasks: int = 1
    baseline: float | None = None  # the random-logits model's score on the same items

    @property
    def over_baseline(self) -> float | None:
        return None if self.baseline is None else self.score - self.baseline

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "over_baseline": self.over_baseline}


def mcc_score(mcc: float) -> float:
    """Matthews correlation in [-1, 1] -> [0, 1] (paper: CoLA), chance at 0.5."""
    return (mcc + 1.0) / 2.0


def bits_per_byte_score(bpb: float) -> float:
    """Bits per byte -> 2 ** -bpb, the geometric-mean probability the model gives each byte.

    In (0, 1], higher is better, independent of the tokenizer, and exact (no fitted
    constants): a uniform guess over 256 byte values scores 1/256, a model at 1 bit
    per byte scores 0.5. Random logits over a vocabulary of V tokens averaging c bytes
    score about V ** (-1 / c), e.g. ~0.1 for V = 4096 at 3.5 bytes per token.
    """
    return 2.0 ** -bpb


def bits_per_byte_stderr(samples: Sequence[tuple[float, int]]) -> float | None:
    """Standard error of corpus bits per byte from per-document (loglikelihood, bytes).

    Bits per byte is a ratio of sums, -sum(ll) / (ln 2 * sum(bytes)): the delta
    method (ratio estimator) gives its error; lm-eval reports none for it.
    """
    n = len(samples)
    if n < 2:
        return None
    total_ll, total_bytes = sum(s[0] for s in samples), sum(s[1] for s in samples)
    ratio = total_ll / total_bytes
    var = sum((ll - ratio * b) ** 2 for ll, b in samples) / (n - 1)
    return math.sqrt(var / n) / (total_bytes / n) / math.log(2)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def normalise_task(task: str, metrics: Mapping[str, Any]) -> TaskScore:
    """One lm-eval results entry ({"acc,none": .., "acc_stderr,none": ..}) -> TaskScore."""
    by_name = {key.split(",")[0]: value for key, value in metrics.items()}
    for metric in METRIC_PREFERENCE:
        raw = _number(by_name.get(metric))
        if raw is None:
            continue
        se = _number(by_name.get(f"{metric}_stderr"))
        if metric == "mcc":
            score, se = mcc_score(raw), None if se is None else se / 2
        elif metric == "bits_per_byte":
            score = bits_per_byte_score(raw)
            se = None if se is None else math.log(2) * score * se  # d(2^-x)/dx = -ln2 2^-x
        else:
            score = raw
        return TaskScore(task, metric, raw, score, se)
    raise ValueError(
        f"task {task!r} reports none of {METRIC_PREFERENCE} (it has {sorted(by_name)}): add its metric to scores.py"
    )


def combine_subtasks(name: str, parts: Sequence[TaskScore]) -> TaskScore:
    """Unweighted mean of subtask scores; stderr of that mean of independent parts."""
    assert parts, name
    k = len(parts)
    stderrs = [p.stderr for p in parts]
    se = None if any(s is None for s in stderrs) else math.sqrt(sum(s * s for s in stderrs)) / k
    metrics = sorted({p.metric for p in parts})
    return TaskScore(
        task=name,
        metric=metrics[0] if len(metrics) == 1 else "+".join(metrics),
        raw=sum(p.raw for p in parts) / k,
        score=sum(p.score for p in parts) / k,
        stderr=se,
        n_subtasks=k,
    )


def family_of(task: str) -> str | None:
    return next((family for prefix, family in FAMILIES.items() if task.startswith(prefix)), None)


def normalise_results(results: Mapping[str, Mapping[str, Any]]) -> dict[str, TaskScore]:
    """lm-eval's `results` dict -> one TaskScore per benchmark, families averaged.

    lm-eval also reports a row for a group (e.g. "blimp") beside its subtasks; that
    row is ignored, the subtasks are averaged here so the rule is the same for tags.
    """
    singles: dict[str, TaskScore] = {}
    families: dict[str, list[TaskScore]] = {}
    for task in sorted(results):
        family = family_of(task)
        if family is not None:
            families.setdefault(family, []).append(normalise_task(task, results[task]))
        elif task not in FAMILIES.values():
            singles[task] = normalise_task(task, results[task])
    for family, parts in families.items():
        singles[family] = combine_subtasks(family, parts)
    return dict(sorted(singles.items()))


def with_baseline(scores: Mapping[str, TaskScore], baseline: Mapping[str, TaskScore | float]) -> dict[str, TaskScore]:
    """Attach each task's random-logits baseline score."""
    missing = set(scores) - set(baseline)
    if missing:
        raise ValueError(f"baseline lacks tasks {sorted(missing)}: compute it on the same task set")
    return {
        t: replace(s, baseline=b.score if isinstance(b, TaskScore) else float(b))
        for t, s in scores.items()
        for b in [baseline[t]]
    }


def fitness(scores: Iterable[TaskScore]) -> tuple[float, float | None]:
    """Mean normalised score and its standard error (tasks as independent estimates).

    The error is sqrt(sum se_i^2) / n: the sampling error of the items evaluated,
    not the spread across tasks (which measures how different the tasks are).
    """
    scores = list(scores)
    if not scores:
        raise ValueError("fitness of no tasks: evaluate at least one task")
    mean = sum(s.score for s in scores) / len(scores)
    if any(s.stderr is None for s in scores):
        return mean, None
    return mean, math.sqrt(sum(s.stderr**2 for s in scores)) / len(scores)
