"""At 80 columns the designs and budget tables wrap or widen: no name or number is cut."""

from __future__ import annotations

import re
import time
from dataclasses import replace

from rich.console import Console

from genesys.local.progress import budget_table, designs_table, phase_counts, summary_line
from genesys.local.snapshot import BudgetView, DesignView, RungScores, RunSnapshot


def scores(rung: str, fitness: float) -> RungScores:
    return RungScores(rung, fitness, 0.01, {"a": fitness}, {"a": 0.2}, 1000, 30.0, 5.0)


def snapshot() -> RunSnapshot:
    designs = tuple(
        DesignView(f"design-{i:04d}", "Verifying", "crossover", (f"design-{i - 2:04d}", f"design-{i - 1:04d}"), i,
                   "", -0.5 + i / 10, i - 9, None, (scores("paper-125m", 0.5 + i / 1000),),
                   created_at=time.time() - 1400)
        for i in range(10, 14)
    )
    budgets = tuple(BudgetView(f"paper-{s}m", 1024, 512, 123, 4, 23_456_789.0) for s in (125, 350))
    return RunSnapshot("demo", "/tmp/run", "Running", 0.0, 1400.0, ("paper-125m", "paper-350m"), designs, budgets,
                       {}, {})


def render(renderable) -> str:
    console = Console(width=80, record=True)
    console.print(renderable)
    return console.export_text()


def test_designs_table_at_80_columns_shows_every_name_and_number_whole():
    text = render(designs_table(list(snapshot().designs)))
    assert max(len(line) for line in text.splitlines()) <= 80
    for d in snapshot().designs:
        assert re.search(rf"\b{d.name}\b", text), d.name
        assert f"{d.best.fitness:.3f}" in text
    assert len(re.findall(r"\b23m2\ds\b", text)) == 4  # the age of each, not `23m2…`
    assert "\u2026" not in text
    words = set(text.split())
    assert {"AGE", "FITNESS", "paper-125m", "crossover", "Verifying"} <= words


def test_budget_table_at_80_columns_shows_every_name_and_number_whole():
    wide = replace(snapshot(), budgets=tuple(BudgetView(f"paper-{s}m", 65536, 16384, 12345, 16, 12_345_678_901_234.0)
                                             for s in (125, 350)))
    text = render(budget_table(wide))
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "\u2026" not in text and text.count("\u2513") == 1  # nothing cut: not a cell, not the right border
    words = set(text.split())
    assert {"0.513", "12345678901234", "paper-350m", "65536", "DEVICE-S"} <= words
    assert {"design-00", "13"} <= words  # the name too long for what is left folds onto the next line


def test_phase_counts_are_words_and_the_clock_stops_at_the_finish():
    assert phase_counts({"running": 1, "succeeded": 3, "failed": 0}) == "1 running, 3 succeeded"
    assert phase_counts({"running": 0}) == "none"
    done = replace(snapshot(), phase="Completed", started_at=0.0, updated_at=99_999.0, finished_at=600.0)
    assert "Completed  10m00s" in summary_line(done).plain


def test_fitness_with_its_stderr_and_lead_wraps_at_80_columns_and_is_whole():
    noisy = tuple(replace(d, rungs=(replace(d.best, stderr=0.014),), lead_z=2.34, versus="mamba2")
                  for d in snapshot().designs)
    text = render(designs_table(list(noisy)))
    assert max(len(line) for line in text.splitlines()) <= 80 and "\u2026" not in text
    words = text.split()
    assert words.count("\u00b10.014") == 4 and words.count("+2.3\u03c3") == 4 and words.count("mamba2") == 4
    wide = Console(width=200, record=True)
    wide.print(designs_table(list(noisy)))
    assert "0.510 \u00b10.014 +2.3\u03c3 vs mamba2" in wide.export_text()
