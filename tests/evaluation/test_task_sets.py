"""Task sets name real lm-eval tasks."""

from __future__ import annotations

import pytest
from lm_eval.tasks import TaskManager

from genesys.evaluation.local_tasks import LOCAL_TASKS
from genesys.evaluation.task_sets import TASK_SETS, get_task_set


def test_local_is_the_four_generated_tasks():
    local = get_task_set("local")
    assert local.tasks == LOCAL_TASKS and not local.needs_hub


def test_unknown_name_suggests_the_nearest():
    with pytest.raises(KeyError, match="did you mean paper9"):
        get_task_set("paper")


def test_paper9_names_exist_in_the_installed_lm_eval():
    index = TaskManager().task_index  # indexes lm-eval's bundled YAMLs; reads no dataset
    paper9 = get_task_set("paper9")
    assert len(paper9.tasks) == 9 and paper9.needs_hub
    assert [t for t in paper9.tasks if t not in index] == []
    assert set(TASK_SETS) == {"paper9", "local"}
