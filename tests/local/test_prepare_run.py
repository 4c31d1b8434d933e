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
    assert Path(run.artifacts.design_file("gpt2")).exists()
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


def test_a_store_that_cannot_be_used_is_refused_before_anything_is_created(tmp_path):
    path = _evolution(tmp_path)
    path.write_text(path.read_text() + "  artifacts: {url: 'nope://bucket/genesys'}\n")
    with pytest.raises(RunDirError, match="spec.artifacts.url: .*unknown store protocol nope://"):
        prepare_run(path, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_store_without_credentials_is_refused_before_anything_is_created(tmp_path, monkeypatch):
    s3fs = pytest.importorskip("s3fs", reason="the s3 extra is not installed")
    path = _evolution(tmp_path)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to look for
    s3fs.S3FileSystem.clear_instance_cache()  # fsspec would reuse a client made with other credentials
    try:
        with pytest.raises(RunDirError, match="cannot reach the store .*check its credentials"):
            prepare_run(path, tmp_path / "run", store=f"s3://genesys-test-{tmp_path.name}/runs")
    finally:
        s3fs.S3FileSystem.clear_instance_cache()  # nor should later tests reuse this one
    assert not (tmp_path / "run").exists()


def test_a_first_start_that_died_before_its_seeds_were_recorded_is_completed(tmp_path):
    run = prepare_run(_evolution(tmp_path), tmp_path / "run")
    with run.store.transaction() as db:  # as if the process died before the seeding transaction
        db.execute("DELETE FROM designs")
        db.execute("DELETE FROM meta WHERE key = 'started_at'")
    run.store.close()
    again = prepare_run(_evolution(tmp_path), tmp_path / "run")
    assert [d.name for d in again.store.designs()] == ["gpt2"]
