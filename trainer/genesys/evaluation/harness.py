"""Evaluate one model on a task set with lm-eval: scores, random baseline, fitness.

    result = evaluate(model, tokenizer, "local", heldout_documents=docs, out_dir="run/eval")
    json.dump(result.to_dict(), open("result.json", "w"))

`local` works offline (tasks generated from held-out documents); `paper9` needs the
datasets hub. Each score comes with the chance level it must beat on the same items:
a model with random logits, or for bits per byte the uniform distribution.
Run it in one process (rank 0 under torchrun): requests are not sharded across ranks.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import lm_eval
import torch
from lm_eval.tasks import TaskManager
from torch import nn

from genesys.evaluation.lm import GenesysLM, Tokenizer
from genesys.evaluation.local_tasks import write_local_tasks
from genesys.evaluation.scores import (
    TaskScore,
    bits_per_byte_stderr,
    fitness,
    normalise_results,
    with_baseline,
)
from genesys.evaluation.task_sets import get_task_set


class RandomLogits(nn.Module):
    """i.i.d. standard-normal logits at every position: the random baseline of a task."""

    def __init__(self, vocab_size: int, seed: int = 0):
        super().__init__()
        self.vocab_size = vocab_size
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        B, L = input_ids.shape
        return torch.randn(B, L, self.vocab_size, generator=self.generator).to(input_ids.device)  # (B, L, V)


@dataclass
class EvaluationResult:
    """What a verification reports about evaluation (the `evaluation` part of result.json)."""

    task_set: str
    scores: dict[str, TaskScore]  # one per benchmark, families averaged
    fitness: float  # mean normalised score
    fitness_stderr: float | None
    baseline_fitness: float | None  # the same mean for random logits
    n_items: dict[str, int]  # items evaluated per lm-eval task (after `limit`)
    seconds: float  # evaluating the model (without the baseline)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def baselines(self) -> dict[str, float | None]:
        """Chance level per task, to reuse: evaluate(..., baseline=result.baselines)."""
        return {t: s.baseline for t, s in self.scores.items()}

    def to_dict(self) -> dict[str, Any]:
        over = None if self.baseline_fitness is None else self.fitness - self.baseline_fitness
        return {
            "task_set": self.task_set,
            "fitness": self.fitness,
            "fitness_stderr": self.fitness_stderr,
            "baseline_fitness": self.baseline_fitness,
            "fitness_over_baseline": over,
            "scores": {t: s.to_dict() for t, s in self.scores.items()},
            "n_items": self.n_items,
            "seconds": self.seconds,
            "config": self.config,
        }


def evaluate(
    model: nn.Module | GenesysLM,
    tokenizer: Tokenizer | None = None,
    task_set: str = "local",
    heldout_documents: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    limit: int | float | None = None,
    batch_size: int = 16,
    seed: int = 0,
    max_length: int = 256,
    n_items: int | Mapping[str, int] = 500,
    baseline: bool | Mapping[str, TaskScore | float] = True,
    device: str | torch.device | None = None,
    bootstrap_iters: int = 1000,
) -> EvaluationResult:
    """Run `task_set` on `model` through lm_eval.simple_evaluate and score it.

    model: an nn.Module returning logits (B, L, V) (with `tokenizer`), or a GenesysLM.
    heldout_documents: the texts the `local` tasks are cut from (n_items per task, by seed).
    out_dir: where local tasks and lm-eval's raw results go (a temporary dir if None).
    limit: at most this many items per task (lm-eval's limit), for quick runs.
    baseline: True scores chance on the same items (see _baseline); a mapping
        {task: score} reuses one computed before (`result.baselines`); False skips it.
    """
    spec = get_task_set(task_set)
    if isinstance(model, GenesysLM):
        lm = model
    else:
        if tokenizer is None:
            raise TypeError("evaluate(model, tokenizer, ...): a bare model needs its tokenizer")
        lm = GenesysLM(model, tokenizer, max_length=max_length, batch_size=batch_size, device=device)
    config = {
        "task_set": spec.name,
        "tasks": list(spec.tasks),
        "limit": limit,
        "batch_size": lm.batch_size,
        "max_length": lm.max_length,
        "seed": seed,
        "n_items": n_items,
        "lm_eval_version": version("lm_eval"),
    }
    with _work_dir(out_dir) as work:
        task_manager = _task_manager(spec, heldout_documents, work / "tasks", seed, n_items)
        start = time.perf_counter()
        raw = _run(lm, spec.tasks, task_manager, limit, seed, bootstrap_iters)
        seconds = time.perf_counter() - start
        (work / "lm_eval_results.json").write_text(
            json.dumps({k: raw[k] for k in ("results", "n-samples", "versions")}, indent=2, default=str) + "\n"
        )
        scores = normalise_results(raw["results"])
        baseline_fitness = None
        if baseline is not False:
            if baseline is True:
                baseline = _baseline(lm, spec.tasks, raw, task_manager, limit, seed, bootstrap_iters)
            scores = with_baseline(scores, baseline)
            baseline_fitness = sum(s.baseline for s in scores.values()) / len(scores)
    value, stderr = fitness(scores.values())
    return EvaluationResult(
        task_set=spec.name,
        scores=scores,
        fitness=value,
        fitness_stderr=stderr,
        baseline_fitness=baseline_fitness,
        n_items={t: int(n["effective"]) for t, n in raw["n-samples"].items()},
        seconds=seconds,
        config=config,
    )


def _baseline(lm: GenesysLM, tasks, raw, task_manager, limit, seed: int, bootstrap_iters: int) -> dict[str, TaskScore]:
    """Chance level per task: random logits for choices and greedy match, uniform for bits per byte.

    Bits per byte of the uniform distribution over the vocabulary is exact
    (log2 V per token); random logits would only add noise-dependent bits on top.
    Accuracy needs random logits: uniform ones tie, and ties always pick choice 0.
    """
    vocab = lm.tokenizer.vocab_size
    uniform = {}
    for task, samples in raw["samples"].items():
        texts = [(s["target"], s["bits_per_byte"][1]) for s in samples if "bits_per_byte" in s]
        if texts:
            n_tokens = sum(len(lm.tokenizer.encode(text)) for text, _ in texts)
            uniform[task] = {"bits_per_byte,none": n_tokens * math.log2(vocab) / sum(b for _, b in texts)}
    results = dict(uniform)
    rest = [t for t in tasks if t not in uniform]
    if rest:
        random_model = RandomLogits(vocab, seed)
        random_lm = GenesysLM(random_model, lm.tokenizer, max_length=lm.max_length, batch_size=lm.batch_size)
        results.update(_run(random_lm, rest, task_manager, limit, seed, bootstrap_iters)["results"])
    return normalise_results(results)


def _task_manager(spec, documents, tasks_dir: Path, seed: int, n_items) -> TaskManager:
    if spec.needs_hub:
        offline = [v for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") if os.environ.get(v, "0") not in ("", "0")]
        if offline:
            raise RuntimeError(
                f"task set {spec.name!r} downloads its datasets from the hub, but {offline} is set: "
                "unset it where the hub is reachable, or use task_set='local'"
            )
        return TaskManager()
    if not documents:
        raise ValueError(f"task set {spec.name!r} is generated from held-out text: pass heldout_documents")
    write_local_tasks(documents, tasks_dir, seed=seed, n_items=n_items)
    # Only our YAMLs: indexing lm-eval's ~15k bundled tasks costs seconds.
    return TaskManager(include_path=str(tasks_dir), include_defaults=False)


def _run(lm: GenesysLM, tasks, task_manager: TaskManager, limit, seed: int, bootstrap_iters: int) -> dict[str, Any]:
    """lm_eval.simple_evaluate, plus the bits-per-byte stderr lm-eval does not give."""
    # Bootstrapped stderrs (perplexity, mcc) otherwise fork a process pool from a
    # process holding a model; in-process bootstrap is fast at these sizes.
    with _env(DISABLE_MULTIPROC="1"):
        out = lm_eval.simple_evaluate(
            model=lm,
            tasks=list(tasks),
            task_manager=task_manager,
            limit=limit,
            log_samples=True,
            bootstrap_iters=bootstrap_iters,
            random_seed=seed,
            numpy_random_seed=seed,
            torch_random_seed=seed,
            fewshot_random_seed=seed,
        )
    for task, samples in out["samples"].items():
        pairs = [tuple(s["bits_per_byte"]) for s in samples if "bits_per_byte" in s]
        if pairs and task in out["results"]:
            out["results"][task]["bits_per_byte_stderr,none"] = bits_per_byte_stderr(pairs)
    return out


@contextlib.contextmanager
def _work_dir(out_dir: str | Path | None) -> Iterator[Path]:
    if out_dir is not None:
        path = Path(out_dir).resolve()
        path.mkdir(parents=True, exist_ok=True)
        yield path
    else:
        with tempfile.TemporaryDirectory(prefix="genesys-eval-") as tmp:
            yield Path(tmp)


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
