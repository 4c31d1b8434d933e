"""genesys.evaluation: lm-eval for our models, task sets, normalised scores and fitness.

    from genesys.evaluation import evaluate
    result = evaluate(model, tokenizer, "local", heldout_documents=docs, out_dir="run/eval")
    result.fitness, result.fitness_stderr, result.to_dict()

The only package that imports lm_eval (DESIGN.md section 2).
"""

from __future__ import annotations

from genesys.evaluation.harness import EvaluationResult, RandomLogits, evaluate
from genesys.evaluation.lm import GenesysLM, Tokenizer
from genesys.evaluation.local_tasks import LOCAL_TASKS, LocalTaskOptions, write_local_tasks
from genesys.evaluation.scores import TaskScore, fitness, normalise_results
from genesys.evaluation.task_sets import TASK_SETS, TaskSet, get_task_set

__all__ = [
    "LOCAL_TASKS",
    "TASK_SETS",
    "EvaluationResult",
    "GenesysLM",
    "LocalTaskOptions",
    "RandomLogits",
    "TaskScore",
    "TaskSet",
    "Tokenizer",
    "evaluate",
    "fitness",
    "get_task_set",
    "normalise_results",
    "write_local_tasks",
]
