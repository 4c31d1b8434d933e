"""`genesys check` and `genesys verify`: exit codes, JSON output, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genesys.api import dump_manifest
from genesys.cli.main import app
from genesys.gau import seed_design

runner = CliRunner()


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_check_passes_a_seed_with_json(tmp_path):
    result = runner.invoke(app, ["check", "examples/designs/gpt2.yaml", "--json", "--scale", "quick"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["passed"] is True
    assert [c["name"] for c in report["checks"]] == [
        "format", "init", "forward", "causality", "gradients", "stability", "efficiency", "complexity", "sandbox"]


def test_check_fails_a_bad_design_with_exit_1_naming_unit_and_line(tmp_path):
    design = seed_design("gpt2")
    design.spec.tree.units["GatedMLP"].code = "import subprocess\n" + design.spec.tree.units["GatedMLP"].code
    path = _write(tmp_path, "bad.yaml", dump_manifest(design))
    result = runner.invoke(app, ["check", path, "--json"])
    assert result.exit_code == 1, result.output
    fmt = json.loads(result.stdout)["checks"][0]
    assert fmt["name"] == "format" and fmt["status"] == "fail"
    assert fmt["unit"] == "GatedMLP" and fmt["line"] == 1 and "subprocess" in fmt["message"]


def test_check_rejects_an_invalid_file_with_exit_2(tmp_path):
    path = _write(tmp_path, "broken.yaml",
                  "apiVersion: genesys.dev/v1alpha1\nkind: Design\nmetadata: {name: x}\nspec: {}\n")
    result = runner.invoke(app, ["check", path])
    assert result.exit_code == 2
    assert "spec.tree: required field is missing" in result.output
    assert "Traceback" not in result.output


def test_verify_rejects_unknown_rungs_and_runs_a_debug_rung(tmp_path):
    result = runner.invoke(app, ["verify", "gpt2", "--rung", "cpu-9", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "unknown rung 'cpu-9'" in result.output
    assert not (tmp_path / "x").exists()
    out = tmp_path / "run"
    result = runner.invoke(app, ["verify", "gpt2", "--rung", "debug", "--out", str(out), "--no-check",
                                 "--set", "tokens=4096", "--set", "eval_limit=8"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "result.json").read_text())["status"] == "succeeded"


def test_verify_of_a_design_the_checker_refuses_prints_the_first_problem_located(tmp_path):
    design = seed_design("gpt2")
    design.spec.tree.units["GatedMLP"].code = "import subprocess\n" + design.spec.tree.units["GatedMLP"].code
    path = _write(tmp_path, "bad.yaml", dump_manifest(design))
    result = runner.invoke(app, ["verify", path, "--rung", "debug", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    text = " ".join(result.stdout.split())
    assert "first problem: format: [unit GatedMLP, line 1]" in text
    assert "import of 'subprocess' is not allowed" in text


def test_verify_repeats_trains_each_seed_into_its_own_dir_and_summarises_the_spread(tmp_path):
    out = tmp_path / "noise"
    args = ["verify", "gpt2", "--rung", "debug", "--out", str(out), "--no-check", "--seed", "3", "--repeats", "2",
            "--set", "tokens=4096", "--set", "eval_limit=8"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    runs = [json.loads((out / f"seed-{s}" / "result.json").read_text()) for s in (3, 4)]
    assert [r["config"]["options"]["seed"] for r in runs] == [3, 4]
    assert not (out / "result.json").exists()
    noise = json.loads((out / "noise.json").read_text())
    values = [r["fitness"] for r in runs]
    assert noise["seeds"] == [3, 4] and noise["fitness"]["values"] == values and noise["failed"] == []
    assert noise["fitness"]["mean"] == pytest.approx(sum(values) / 2)
    assert noise["fitness"]["sd"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
    assert noise["fitness"]["sem"] == pytest.approx(noise["fitness"]["sd"] / 2**0.5)
    assert noise["fitness"]["eval_stderr"] > 0
    assert set(noise["tasks"]) == set(runs[0]["evaluation"]["scores"])
    assert "TRAIN-SD" in result.output and "EVAL-SE" in result.output
    # each seed is resumable: a second call keeps the finished runs
    stamp = (out / "seed-3" / "result.json").stat().st_mtime_ns
    assert runner.invoke(app, args).exit_code == 0
    assert (out / "seed-3" / "result.json").stat().st_mtime_ns == stamp
