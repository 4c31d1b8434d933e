"""One verification end to end, and the result.json it always leaves behind."""

from __future__ import annotations

import yaml

from genesys.api import dump_manifest
from genesys.api.results import VerificationResult
from genesys.gau import seed_design
from genesys.trainer.presets import get_rung, with_overrides
from genesys.trainer.verification import job_inputs, verify

FAST = with_overrides(get_rung("debug"), {"tokens": 8192, "eval_limit": 10})


def test_verification_writes_scores_fitness_and_config(tmp_path):
    result = verify("gpt2", FAST, tmp_path, check=False, attempt=2)
    saved = VerificationResult.from_json((tmp_path / "result.json").read_text())
    assert saved == result and saved.status == "succeeded", saved.message
    assert (saved.design, saved.rung, saved.attempt) == ("gpt2", "debug", 2)
    assert saved.train.steps == 8 and saved.train.tokens == 8192 and saved.train.world_size == 1
    assert saved.train.params["non_embedding"] > 0 and saved.train.device_seconds > 0
    assert 0 <= saved.fitness <= 1 and saved.fitness_stderr >= 0
    assert set(saved.scores) == set(saved.evaluation.scores) == {
        "genesys_bpb", "genesys_lastword", "genesys_nextsent", "genesys_wordorder"}
    assert saved.baselines and all(saved.baselines[t] == saved.evaluation.scores[t].baseline for t in saved.baselines)
    assert saved.config["rung"]["tokens"] == 8192
    assert saved.train.heldout_loss > 0 and saved.train.final_loss > 0


def test_invalid_design_file_still_leaves_a_result(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: genesys.dev/v1alpha1\nkind: Design\nmetadata: {name: x}\nspec: {}\n")
    result = verify(str(bad), FAST, tmp_path / "out")
    saved = VerificationResult.from_json((tmp_path / "out" / "result.json").read_text())
    assert saved.status == result.status == "failed"
    assert saved.reason == "invalid_design" and "spec.tree" in saved.message


def test_a_design_failing_the_checker_is_not_trained(tmp_path):
    design = seed_design("gpt2")
    code = design.spec.tree.units["GatedMLP"].code
    design.spec.tree.units["GatedMLP"].code = "import os\n" + code
    path = tmp_path / "d.yaml"
    path.write_text(dump_manifest(design))
    result = verify(str(path), FAST, tmp_path / "out")
    assert result.status == "failed" and result.reason == "check_failed"
    assert "format" in result.message and result.check is not None and not result.check.passed
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_job_file_is_a_verification_job_manifest(tmp_path):
    job = {"apiVersion": "genesys.dev/v1alpha1", "kind": "VerificationJob", "metadata": {"name": "gpt2-cpu-1"},
           "spec": {"design": "gpt2", "rung": "cpu-1", "overrides": {"lr": 1e-3}, "tasks": "local", "attempt": 3}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    inputs = job_inputs(path)
    assert (inputs.design, inputs.rung.name, inputs.rung.lr, inputs.tasks, inputs.data.source, inputs.check,
            inputs.attempt) == ("gpt2", "cpu-1", 1e-3, "local", "embedded", True, 3)
