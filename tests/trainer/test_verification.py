"""One verification end to end, and the result.json it always leaves behind."""

from __future__ import annotations

import json

import yaml

from genesys.api import dump_manifest
from genesys.gau import seed_design
from genesys.trainer.presets import get_rung, with_overrides
from genesys.trainer.verification import job_arguments, verify

FAST = with_overrides(get_rung("debug"), {"tokens": 8192, "eval_limit": 10})


def test_verification_writes_scores_fitness_and_config(tmp_path):
    result = verify("gpt2", FAST, tmp_path, check=False)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["status"] == result["status"] == "succeeded", saved.get("message")
    assert saved["design"] == "gpt2" and saved["rung"] == "debug"
    assert saved["steps"] == 8 and saved["tokens"] == 8192
    assert saved["params"]["non_embedding"] > 0 and saved["device_seconds"] > 0
    assert 0 <= saved["fitness"] <= 1 and saved["fitness_stderr"] >= 0
    assert set(saved["evaluation"]["scores"]) == {"genesys_bpb", "genesys_lastword", "genesys_nextsent", "genesys_wordorder"}
    assert saved["config"]["rung"]["tokens"] == 8192
    assert saved["heldout_loss"] > 0 and saved["final_loss"] > 0


def test_invalid_design_file_still_leaves_a_result(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: genesys.dev/v1alpha1\nkind: Design\nmetadata: {name: x}\nspec: {}\n")
    result = verify(str(bad), FAST, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    assert saved["status"] == result["status"] == "failed"
    assert saved["reason"] == "invalid_design" and "spec.tree" in saved["message"]


def test_a_design_failing_the_checker_is_not_trained(tmp_path):
    design = seed_design("gpt2")
    code = design.spec.tree.units["GatedMLP"].code
    design.spec.tree.units["GatedMLP"].code = "import os\n" + code
    path = tmp_path / "d.yaml"
    path.write_text(dump_manifest(design))
    result = verify(str(path), FAST, tmp_path / "out")
    assert result["status"] == "failed" and result["reason"] == "check_failed"
    assert "format" in result["message"]
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_job_file_is_a_verification_job_manifest(tmp_path):
    job = {"apiVersion": "genesys.dev/v1alpha1", "kind": "VerificationJob", "metadata": {"name": "gpt2-cpu-1"},
           "spec": {"design": "gpt2", "rung": "cpu-1", "overrides": {"lr": 1e-3}, "tasks": "local"}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    design, rung, tasks, data, seed, check = job_arguments(path)
    assert (design, rung.name, rung.lr, tasks, data.source, check) == ("gpt2", "cpu-1", 1e-3, "local", "embedded", True)
