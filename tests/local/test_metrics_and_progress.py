"""Prometheus metrics served on 127.0.0.1 and the terminal progress view, from one run snapshot."""

from __future__ import annotations

import urllib.request

from rich.console import Console

from genesys.api import loads_manifest, storage
from genesys.api.artifact_store import ArtifactStore
from genesys.api.evolution import Evolution
from genesys.api.session import SessionOutcome, SessionSpend
from genesys.evolution.outcomes import Exit, settle_session, settle_verification
from genesys.local.metrics import RunMetrics
from genesys.local.progress import designs_table, progress_view
from genesys.local.run_dir import OpenRun
from genesys.local.snapshot import BudgetView, DesignView, RungScores, RunSnapshot
from genesys.local.store import RunStore
from quick_runs import QUICK
from result_builders import build_result


def _snapshot() -> RunSnapshot:
    scores = lambda rung, fitness: RungScores(rung, fitness, 0.01, {"a": fitness}, {"a": 0.2}, 1000, 30.0, 5.0)  # noqa: E731
    designs = (
        DesignView("gpt2", "Verified", "seed", (), 0, "GPT", 0.02, 1, "good-confident",
                   (scores("cpu-1", 0.40), scores("cpu-2", 0.45))),
        DesignView("design-0001", "Verified", "mutation", ("gpt2",), 1, "GQA", -0.02, 2, "poor-unconfident",
                   (scores("cpu-1", 0.35),)),
        DesignView("design-0002", "Verifying", "crossover", ("gpt2", "design-0001"), 2, "x", None, None, None),
        DesignView("design-0003", "Failed", "scratch", (), 3, "", None, None, None,
                   failed_rungs={"session": "20 candidates failed the checker"}),
    )
    return RunSnapshot("demo", "/tmp/run", "Running", 0.0, 60.0, ("cpu-1", "cpu-2"), designs,
                       (BudgetView("cpu-1", 16, 16, 3, 1, 90.0), BudgetView("cpu-2", 4, 1, 1, 0, 30.0)),
                       {"running": 0, "succeeded": 3, "failed": 1}, {"running": 1, "succeeded": 3, "failed": 0})


def _local_run(tmp_path) -> OpenRun:
    """A run dir with two seeds verified at cpu-1, one of them at cpu-2, a failed verification and two
    finished design sessions (one refused, with LLM spend): what `genesys run` leaves in SQLite and the store."""
    evolution = loads_manifest(QUICK.read_text(), Evolution, str(QUICK))
    run = OpenRun(tmp_path, evolution, RunStore.open(tmp_path / "state.db"),
                  ArtifactStore(tmp_path / "artifacts", evolution.name))
    for order, seed in enumerate(("gpt2", "retnet")):
        run.store.add_design(seed, "seed", (), order)
    for name, design, rung, result in (
            ("gpt2-cpu-1", "gpt2", "cpu-1", build_result("gpt2", "cpu-1", fitness=0.40, wall_seconds=30.0)),
            ("retnet-cpu-1", "retnet", "cpu-1", build_result("retnet", "cpu-1", fitness=0.35, wall_seconds=50.0)),
            ("gpt2-cpu-2", "gpt2", "cpu-2", build_result("gpt2", "cpu-2", "failed", reason="oom", wall_seconds=9.0))):
        run.store.start_verification(name, design, rung)
        storage.write_text(run.artifacts.layout.result_file(name), result.to_json())
        run.store.finish_verification(name, settle_verification(result, Exit(0), attempts=1))
    for name, outcome in (("design-0001", SessionOutcome(design="design-0001", status="failed", stage="check",
                                                          reason="no candidate passed", spend=SessionSpend(usd=0.25))),
                          ("design-0002", None)):
        run.store.start_session(name, "mutation", ("gpt2",), seed=1)
        if outcome is not None:
            storage.write_text(run.artifacts.layout.outcome_file(name), outcome.to_json())
        settled = settle_session(outcome, Exit(1), attempts=1)
        run.store.finish_session(name, succeeded=False, reason=settled.reason, usd=settled.usd)
    run.store.start_session("design-0003", "scratch", (), seed=2)
    return run


def test_metrics_are_served_on_loopback_with_dashboard_names(tmp_path):
    run = _local_run(tmp_path)
    metrics = RunMetrics(run)
    port = metrics.serve(0)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        metrics.metrics.close()
    for line in (
        'genesys_best_fitness{evolution="quick",rung="cpu-1"} 0.4',
        'genesys_scalebudget_runs_limit{evolution="quick",rung="cpu-1"} 4.0',
        'genesys_scalebudget_runs_used{evolution="quick",rung="cpu-2"} 1.0',
        'genesys_scalebudget_device_seconds_used{evolution="quick",rung="cpu-1"} 24.0',
        'genesys_designs{evolution="quick",phase="Verified"} 2.0',  # gpt2 stays Verified after failing at cpu-2
        'genesys_designs{evolution="quick",phase="Failed"} 2.0',  # the two failed sessions
        'genesys_designs{evolution="quick",phase="Designing"} 1.0',
        'genesys_verifications{evolution="quick",phase="Failed"} 1.0',
        'genesys_design_sessions{evolution="quick",phase="Failed"} 2.0',
        'genesys_verifications_finished_total{evolution="quick",rung="cpu-2",status="Failed"} 1.0',
        'genesys_verification_duration_seconds_sum{evolution="quick",rung="cpu-1",status="Succeeded"} 80.0',
        'genesys_verification_tokens_per_second{evolution="quick",rung="cpu-1"} 2048.0',  # 20480 tokens in 10 s
        'genesys_design_sessions_finished_total{evolution="quick",status="Failed"} 2.0',
        'genesys_llm_spend_usd_total{evolution="quick"} 0.25',
    ):
        assert line in body, line


def test_metrics_report_each_finished_child_once(tmp_path):
    run = _local_run(tmp_path)
    metrics = RunMetrics(run)
    metrics.update()
    run.store.finish_session("design-0003", succeeded=False, reason="lost")
    metrics.update()
    metrics.update()
    body = metrics.metrics.exposition()
    assert 'genesys_design_sessions_finished_total{evolution="quick",status="Failed"} 3.0' in body
    assert 'genesys_verifications_finished_total{evolution="quick",rung="cpu-1",status="Succeeded"} 2.0' in body


def test_progress_view_shows_budgets_best_and_running():
    console = Console(record=True, width=160)
    console.print(progress_view(_snapshot(), ["verification design-0002-cpu-1"]))
    text = console.export_text()
    # the best is the top of the ranking with every rung's number, never one raw number from its top rung
    assert "best #1 gpt2 (cpu-1 0.400, cpu-2 0.450)" in text
    assert "cpu-1" in text and "16" in text
    assert "verification design-0002-cpu-1" in text
    console = Console(record=True, width=200)
    snap = _snapshot()
    console.print(designs_table(list(snap.designs)))
    table = console.export_text()
    assert table.index("gpt2") < table.index("design-0001") and "Failed" in table and "gpt2, design-0001" in table
