"""Prometheus metrics served on 127.0.0.1 and the terminal progress view, from one run snapshot."""

from __future__ import annotations

import urllib.request

from rich.console import Console

from genesys.local.metrics import RunMetrics
from genesys.local.progress import designs_table, progress_view
from genesys.local.snapshot import BudgetView, DesignView, RungScores, RunSnapshot


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


def test_metrics_are_served_on_loopback_with_dashboard_names():
    metrics = RunMetrics("demo")
    port = metrics.serve(0)
    metrics.update(_snapshot())
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    for line in (
        'genesys_best_fitness{evolution="demo",rung="cpu-1"} 0.4',
        'genesys_best_fitness{evolution="demo",rung="cpu-2"} 0.45',
        'genesys_scalebudget_runs_total{evolution="demo",rung="cpu-1"} 16.0',
        'genesys_scalebudget_runs_used{evolution="demo",rung="cpu-2"} 1.0',
        'genesys_scalebudget_runs_running{evolution="demo",rung="cpu-1"} 1.0',
        'genesys_designs{evolution="demo",phase="Verified"} 2.0',
        'genesys_designs{evolution="demo",phase="Failed"} 1.0',
        'genesys_verifications{evolution="demo",phase="running"} 1.0',
        'genesys_design_sessions{evolution="demo",phase="failed"} 1.0',
        'genesys_device_seconds{evolution="demo"} 120.0',
    ):
        assert line in body, line


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
