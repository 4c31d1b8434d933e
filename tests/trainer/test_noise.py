"""The noise summary of repeated verifications: spread across training seeds beside the evaluation stderr."""

from __future__ import annotations

import math

import pytest

from genesys.api.results import VerificationResult
from genesys.trainer.noise import noise_summary, read_result, seed_dir
from result_builders import build_result


def result(seed: int, fitness: float, task: float, status: str = "succeeded") -> VerificationResult:
    built = build_result("gpt2", "cpu-1", status, fitness=fitness, scores={"a": task}, baselines={},
                         reason=None if status == "succeeded" else "oom", config={"options": {"seed": seed}})
    return built


def test_summary_of_three_seeds_with_one_failure():
    runs = [result(0, 0.40, 0.5), result(1, 0.44, 0.7), result(2, 0.42, 0.6), result(3, 0.9, 0.9, "failed")]
    summary = noise_summary(runs)
    assert (summary["design"], summary["rung"], summary["seeds"]) == ("gpt2", "cpu-1", [0, 1, 2])
    assert summary["failed"] == [{"seed": 3, "reason": "oom", "message": ""}]
    fitness = summary["fitness"]
    assert fitness["values"] == [0.40, 0.44, 0.42] and fitness["mean"] == pytest.approx(0.42)
    assert fitness["sd"] == pytest.approx(0.02) and fitness["sem"] == pytest.approx(0.02 / math.sqrt(3))
    assert fitness["eval_stderr"] == pytest.approx(0.01)
    assert fitness["train_sd_over_eval_stderr"] == pytest.approx(2.0)
    assert summary["tasks"]["a"]["sd"] == pytest.approx(0.1) and summary["tasks"]["a"]["eval_stderr"] == 0.02


def test_one_run_has_no_spread_and_unfinished_runs_are_not_read(tmp_path):
    single = noise_summary([result(0, 0.4, 0.5)])["fitness"]
    assert (single["sd"], single["sem"], single["train_sd_over_eval_stderr"]) == (None, None, None)
    assert seed_dir(tmp_path, 7) == tmp_path / "seed-7"
    assert read_result(seed_dir(tmp_path, 7)) is None
    seed_dir(tmp_path, 7).mkdir()
    (seed_dir(tmp_path, 7) / "result.json").write_text(result(7, 0, 0, "interrupted").to_json())
    assert read_result(seed_dir(tmp_path, 7)) is None
    (seed_dir(tmp_path, 7) / "result.json").write_text('{"status": "succeeded"}')  # not a result: run it again
    assert read_result(seed_dir(tmp_path, 7)) is None
    (seed_dir(tmp_path, 7) / "result.json").write_text(result(7, 0.4, 0.5).to_json())
    assert read_result(seed_dir(tmp_path, 7)).fitness == 0.4
