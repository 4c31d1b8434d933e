"""`genesys run` on bad input: one clear error naming the problem and the fix, and nothing created."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from genesys.api import ManifestError
from genesys.cli.main import app
from genesys.local.run_dir import RunDirError, open_run
from genesys.local.runner import prepare_run

EVOLUTION = """\
apiVersion: genesys.dev/v1alpha1
kind: Evolution
metadata: {{name: demo}}
spec:
  seeds: {seeds}
  ladder:
    preset: cpu
    overrides: {overrides}
    rungs: [{{name: cpu-1, runs: 2}}]
"""


def _evolution(tmp_path: Path, seeds: str = "[gpt2]", overrides: str = "{tokens: 8192}") -> Path:
    path = tmp_path / "evolution.yaml"
    path.write_text(EVOLUTION.format(seeds=seeds, overrides=overrides))
    return path


def test_a_valid_run_dir_is_created_with_its_seeds_and_reopened(tmp_path):
    run = prepare_run(_evolution(tmp_path), tmp_path / "run")
    assert [d.name for d in run.store.designs()] == ["gpt2"]
    assert run.artifacts.design_file("gpt2").exists()
    run.store.close()
    again = prepare_run(_evolution(tmp_path), tmp_path / "run")  # resuming: same spec, same state
    assert [d.name for d in again.store.designs()] == ["gpt2"]
    assert open_run(tmp_path / "run").evolution.name == "demo"


@pytest.mark.parametrize(
    ("seeds", "overrides", "error", "match"),
    [
        ("[gpt2, gtp3]", "{}", RunDirError, "no seed design named 'gtp3'"),
        ("[missing.yaml]", "{}", RunDirError, "missing.yaml does not exist"),
        ("[gpt2]", "{tokenz: 5}", RunDirError, "no field 'tokenz'; did you mean tokens"),
        ("gpt2", "{}", ManifestError, "spec.seeds"),
    ],
)
def test_bad_input_creates_nothing(tmp_path, seeds, overrides, error, match):
    with pytest.raises(error, match=match):
        prepare_run(_evolution(tmp_path, seeds, overrides), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_unwritable_or_foreign_run_dirs_are_refused(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(RunDirError, match="writable --run-dir"):
        prepare_run(_evolution(tmp_path), tmp_path / "a-file" / "run")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not a genesys run dir"):
        prepare_run(_evolution(tmp_path), tmp_path / "busy")
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]


def test_a_run_dir_of_another_spec_is_refused(tmp_path):
    prepare_run(_evolution(tmp_path), tmp_path / "run").store.close()
    with pytest.raises(RunDirError, match="different spec"):
        prepare_run(_evolution(tmp_path, overrides="{tokens: 16384}"), tmp_path / "run")


def test_cli_reports_one_clear_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: genesys.dev/v1alpha1\nkind: Evolution\nmetadata: {name: x}\nspec: {sedes: [gpt2]}\n")
    result = CliRunner().invoke(app, ["run", str(bad), "--run-dir", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 2
    assert "spec.sedes: unknown field" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
    result = CliRunner().invoke(app, ["status", "--run-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "holds no genesys run" in result.output


def test_a_remote_artifact_store_is_refused_by_the_local_runtime(tmp_path):
    path = _evolution(tmp_path)
    path.write_text(path.read_text() + "  artifacts: {url: 's3://bucket/genesys'}\n")
    with pytest.raises(RunDirError, match="local directory"):
        prepare_run(path, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_first_start_that_died_before_its_seeds_were_recorded_is_completed(tmp_path):
    run = prepare_run(_evolution(tmp_path), tmp_path / "run")
    with run.store.transaction() as db:  # as if the process died before the seeding transaction
        db.execute("DELETE FROM designs")
        db.execute("DELETE FROM meta WHERE key = 'started_at'")
    run.store.close()
    again = prepare_run(_evolution(tmp_path), tmp_path / "run")
    assert [d.name for d in again.store.designs()] == ["gpt2"]
