"""`genesys run` output into a log, and `status` / `designs` on run dirs built straight in the store."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from genesys.cli.main import app
from genesys.local.runner import RunResult
from genesys.local.snapshot import BudgetView, DesignView, RunSnapshot
from genesys.local.store import RunStore

runner = CliRunner()
QUICK = Path(__file__).parents[2] / "examples" / "evolution-quick.yaml"


def make_run(root: Path, name: str, *, completed: bool = False) -> Path:
    """A run dir of evolution `name`: two seeds, 2 sessions succeeded and 1 running, 1 verification running."""
    run_dir = root / "runs" / name
    run_dir.mkdir(parents=True)
    (run_dir / "evolution.yaml").write_text(QUICK.read_text().replace("name: quick", f"name: {name}"))
    store = RunStore.open(run_dir / "state.db")
    started = time.time() - 3600
    store.set_meta("started_at", str(started))
    store.set_meta("phase", "Running")
    for order, seed in enumerate(("gpt2", "retnet")):
        store.add_design(seed, "seed", (), order)
    for i in (1, 2, 3):
        store.start_session(f"design-000{i}", "mutation", ("gpt2",), i)
    for i in (1, 2):
        store.finish_session(f"design-000{i}", True, title="a design", order=1 + i)
    store.start_verification("gpt2-cpu-1", "gpt2", "cpu-1")
    if completed:
        store.set_meta("phase", "Completed")
        store.set_meta("completed_reason", "every rung's budget is spent")
        store.set_meta("finished_at", str(started + 600))
    store.close()
    return run_dir


@pytest.fixture()
def in_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_status_prints_phases_as_words_and_a_completed_run_stops_its_clock(in_tmp):
    make_run(in_tmp, "quick", completed=True)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "sessions: 1 running, 2 succeeded  verifications: 1 running" in result.stdout
    assert "{" not in result.stdout
    assert "quick  Completed  10m00s" in result.stdout  # not the hour since the start


def test_several_runs_show_the_most_recent_and_name_the_others(in_tmp):
    older, newer = make_run(in_tmp, "older"), make_run(in_tmp, "newer")
    for path in older.iterdir():
        os.utime(path, (time.time() - 86400, time.time() - 86400))
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("newer  Running")
    assert f"showing {Path('runs/newer')}, the most recent of 2 runs (others: {Path('runs/older')}" in result.stderr
    assert newer.exists()


def test_designs_top_says_when_nothing_is_rated_and_json_is_one_array(in_tmp):
    make_run(in_tmp, "quick")
    result = runner.invoke(app, ["designs", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert "no design is rated yet" in result.stdout and "lists all 4" in result.stdout
    assert "RANK" not in result.stdout
    assert json.loads(runner.invoke(app, ["designs", "--top", "3", "--json"]).stdout) == []
    listed = json.loads(runner.invoke(app, ["designs", "--json"]).stdout)
    assert [d["name"] for d in listed] == ["gpt2", "retnet", "design-0001", "design-0002"]
    assert runner.invoke(app, ["designs", "--top", "0"]).exit_code == 2


def test_unknown_seed_names_the_manifest_with_one_error_prefix(tmp_path):
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(QUICK.read_text().replace("seeds: [gpt2, retnet]", "seeds: [gpt2, retnt]"))
    result = runner.invoke(app, ["run", str(manifest), "--run-dir", str(tmp_path / "run"), "--metrics-port", "-1"])
    assert result.exit_code == 2
    assert result.stderr.count("error:") == 1, result.stderr
    expected = f"{manifest}: spec.seeds: no seed design named 'retnt'; did you mean retnet?"
    assert expected in " ".join(result.stderr.split())
    assert not (tmp_path / "run").exists()


def test_run_into_a_log_prints_one_plain_line_per_event(monkeypatch, tmp_path):
    first = RunSnapshot("demo", str(tmp_path), "Running", 0.0, 1.0, ("cpu-1",),
                        (DesignView("gpt2", "Verifying", "seed", (), 0, "", None, None, None),),
                        (BudgetView("cpu-1", 4, 4, 0, 1, 0.0),), {}, {}, running_verifications=(("gpt2", "cpu-1", 0),))
    done = replace(first, phase="Completed", running_verifications=(), completed_reason="every rung's budget is spent",
                   designs=(replace(first.designs[0], phase="Failed", failed_rungs={"cpu-1": "diverged"}),))

    def fake_run(evolution_file, options, on_turn, on_start):
        on_start(SimpleNamespace(run_dir=tmp_path, artifacts=SimpleNamespace(root=tmp_path / "artifacts")))
        on_turn(first, SimpleNamespace(children={("verification", "gpt2-cpu-1"): None}))
        return RunResult(done, True)

    monkeypatch.setattr("genesys.local.runner.run_evolution", fake_run)
    result = runner.invoke(app, ["run", str(QUICK), "--metrics-port", "-1"])
    assert result.exit_code == 0, result.output
    events = [line[9:] for line in result.stdout.splitlines() if line[:2].isdigit() and line[2] == ":"]
    assert events == ["verification gpt2 @ cpu-1 started", "verification gpt2 @ cpu-1 failed: diverged",
                      "run completed: every rung's budget is spent"]
    assert "\x1b" not in result.stdout
