"""One verification end to end, and the result.json it always leaves behind."""

from __future__ import annotations

import yaml

from genesys.api import dump_manifest, storage
from genesys.api.results import VerificationResult
from genesys.gau import seed_design
from genesys.trainer.presets import get_rung, with_overrides
from genesys.trainer.verification import job_inputs, verify, write_result

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


def test_a_store_url_job_design_and_output_are_read_and_written_through_the_store(tmp_path, monkeypatch):
    """A remote OUT: result.json lands in the store, the job and its design are read from it."""
    root = f"memory://verification-{tmp_path.name}"
    design = f"{root}/designs/x/design.yaml"
    storage.write_text(design, "apiVersion: genesys.dev/v1alpha1\nkind: Design\nmetadata: {name: x}\nspec: {}\n")
    job = {"apiVersion": "genesys.dev/v1alpha1", "kind": "VerificationJob", "metadata": {"name": "x-cpu-1"},
           "spec": {"design": design, "rung": "cpu-1"}}
    storage.write_text(f"{root}/verifications/x-cpu-1/job.yaml", yaml.safe_dump(job))
    assert job_inputs(f"{root}/verifications/x-cpu-1/job.yaml").design == design
    monkeypatch.setenv(storage.WORK_DIR_ENV, str(tmp_path / "work"))
    result = verify(design, FAST, f"{root}/verifications/x-cpu-1")
    saved = VerificationResult.from_json(storage.read_text(f"{root}/verifications/x-cpu-1/result.json"))
    assert saved == result and saved.reason == "invalid_design" and "spec.tree" in saved.message


def test_a_remote_result_comes_after_the_files_it_summarises(tmp_path, make_result, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "metrics.jsonl").write_text('{"step": 1}\n')
    (work / "train.json").write_text("{}")
    written = []
    write_bytes = storage.write_bytes

    def recorded(url, data):
        written.append(url.rsplit("/", 1)[1])
        write_bytes(url, data)

    monkeypatch.setattr(storage, "write_bytes", recorded)
    out = f"memory://ordered-{tmp_path.name}/v"
    assert write_result(out, make_result(), work) == f"{out}/result.json"
    assert written == ["metrics.jsonl", "train.json", "result.json"]
    assert storage.read_text(f"{out}/metrics.jsonl") == '{"step": 1}\n'
