"""Named task sets: the paper's nine lm-eval benchmarks, and the offline `local` four.

    get_task_set("local").tasks   # ("genesys_bpb", "genesys_lastword", ...)
"""

from __future__ import annotations

from dataclasses import dataclass

from genesys.api.naming import suggest
from genesys.evaluation.local_tasks import LOCAL_TASKS


@dataclass(frozen=True)
class TaskSet:
    name: str
    tasks: tuple[str, ...]  # lm-eval task, group or tag names
    needs_hub: bool  # datasets come from a hub (else generated from held-out documents)
    description: str


# The paper's evaluation (section 5), by the names lm-eval 0.4.x gives them. "blimp"
# is a group of 67 subtasks and "inverse_scaling_mc" a tag of 10; scores.py averages
# each family into one score.
PAPER9 = TaskSet(
    name="paper9",
    tasks=("blimp", "wnli", "rte", "winogrande", "cola", "sst2", "wsc273", "inverse_scaling_mc", "mrpc"),
    needs_hub=True,
    description="BLiMP, WNLI, RTE, WinoGrande, CoLA, SST-2, WSC273, Inverse Scaling, MRPC (0-shot)",
)
LOCAL = TaskSet(
    name="local",
    tasks=LOCAL_TASKS,
    needs_hub=False,
    description="held-out bits per byte, last-word prediction, next sentence, word-order minimal pairs",
)
TASK_SETS = {s.name: s for s in (PAPER9, LOCAL)}


def get_task_set(name: str) -> TaskSet:
    """The task set called `name`; a KeyError suggests the nearest names."""
    try:
        return TASK_SETS[name]
    except KeyError:
        raise KeyError(f"no task set {name!r}; {suggest(name, TASK_SETS, cutoff=0.3)}") from None
