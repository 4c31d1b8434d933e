"""Noise in a run's views: repeats stay out of the designs' rows, fitness carries its combined stderr and lead."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from genesys.cli.main import app
from genesys.evolution.outcomes import VerificationSettlement
from genesys.local.run_dir import MANIFEST_FILE, STATE_FILE, build_snapshot, open_run
from genesys.local.store import RunStore

EVOLUTION = """\
apiVersion: genesys.dev/v1alpha1
kind: Evolution
metadata: {name: noisy}
spec:
  seeds: [gpt2, mamba2]
  ladder: {preset: cpu, rungs: [{name: cpu-1, runs: 4}], seedRepeats: 2}
"""


@pytest.fixture()
def run_dir(tmp_path):
    (tmp_path / MANIFEST_FILE).write_text(EVOLUTION)
    store = RunStore.open(tmp_path / STATE_FILE)
    store.set_meta("started_at", "1.0")
    for order, name in enumerate(("gpt2", "mamba2")):
        store.add_design(name, "seed", (), order)
    store.add_design("design-0001", "mutation", ("gpt2",), 2)
    runs = [("gpt2-cpu-1", "gpt2", 0, 0.40), ("gpt2-cpu-1-r1", "gpt2", 1, 0.44),
            ("mamba2-cpu-1", "mamba2", 0, 0.42), ("design-0001-cpu-1", "design-0001", 0, 0.50)]
    for name, design, repeat, fitness in runs:
        store.start_verification(name, design, "cpu-1", repeat)
        store.finish_verification(name, VerificationSettlement(
            "succeeded", fitness=fitness, scores={"a": fitness}, baselines={"a": 0.1}, device_seconds=5.0,
            summary={"fitness_stderr": 0.01}))
    store.close()
    return tmp_path


def test_repeats_are_calibration_not_rows_and_fitness_has_its_combined_stderr(run_dir):
    snap = build_snapshot(open_run(run_dir))
    gpt2, leader = snap.design("gpt2"), snap.design("design-0001")
    assert [r.rung for r in gpt2.rungs] == ["cpu-1"] and gpt2.best.fitness == 0.40
    assert [h[1] for h in snap.history] == ["gpt2", "mamba2", "design-0001"]
    train_sd = 0.04 / math.sqrt(2)
    stderr = math.hypot(0.01, train_sd)
    assert leader.best.stderr == pytest.approx(stderr) and leader.best.fitness_stderr == 0.01
    assert leader.versus == "mamba2" and leader.lead_z == pytest.approx(0.08 / (stderr * math.sqrt(2)))
    assert leader.lead_text() == f"+{0.08 / (stderr * math.sqrt(2)):.1f}\u03c3 vs mamba2"
    assert snap.budgets[0].used == 3 and snap.budgets[0].device_seconds == 20.0


def test_designs_json_and_show_print_the_stderr_and_the_lead(run_dir):
    runner = CliRunner()
    listed = runner.invoke(app, ["designs", "--json", "--run-dir", str(run_dir)])
    assert listed.exit_code == 0, listed.output
    leader = next(d for d in json.loads(listed.stdout) if d["name"] == "design-0001")
    assert leader["stderr"] == pytest.approx(math.hypot(0.01, 0.04 / math.sqrt(2)))
    assert leader["versus"] == "mamba2" and leader["lead_z"] > 1
    shown = runner.invoke(app, ["show", "design-0001", "--run-dir", str(run_dir)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "fitness 0.5000 \u00b1 0.0300 (evaluation \u00b1 0.0100)" in shown.output
    assert "vs mamba2" in shown.output
    table = runner.invoke(app, ["designs", "--run-dir", str(run_dir)])
    words = " ".join(table.output.split())
    assert "design-0001 Verified gpt2 mutation cpu-1 0.500 \u00b10.030" in words and "+1.9\u03c3 vs mamba2" in words
