"""The plain event lines `genesys run` prints into a log or pipe, derived from consecutive snapshots."""

from __future__ import annotations

from dataclasses import replace

from genesys.local.events import run_events
from genesys.local.snapshot import BudgetView, DesignView, RungScores, RunSnapshot


def design(name: str, operation: str = "mutation", **kw) -> DesignView:
    return DesignView(name, kw.pop("phase", "Implemented"), operation, ("gpt2",) if operation != "seed" else (), 0,
                      kw.pop("title", f"title of {name}"), None, None, None, **kw)


def scores(rung: str, fitness: float) -> RungScores:
    return RungScores(rung, fitness, None, {}, {}, None, 1.0, None)


START = RunSnapshot("demo", "/tmp/run", "Running", 0.0, 1.0, ("cpu-1", "cpu-2"), (design("gpt2", "seed"),),
                    (BudgetView("cpu-1", 4, 4, 0, 1, 0.0), BudgetView("cpu-2", 2, 0, 0, 0, 0.0)), {}, {},
                    running_sessions=("design-0001",),
                    running_verifications=(("gpt2", "cpu-1", 0), ("gpt2", "cpu-1", 1)))


def test_the_first_snapshot_reports_what_is_running_but_not_the_past():
    assert run_events(None, START) == ["design session design-0001 started", "verification gpt2 @ cpu-1 started",
                                       "verification gpt2 @ cpu-1 (noise repeat 1, training seed +1) started"]
    resumed = replace(START, designs=(*START.designs, design("design-0000", failed_rungs={"cpu-1": "nan"})),
                      history=((1.0, "gpt2", "cpu-1", 0.4),), running_sessions=(), running_verifications=())
    assert run_events(None, resumed) == []


def test_finishes_releases_starts_and_completion_each_give_one_line_in_that_order():
    gpt2 = design("gpt2", "seed", phase="Verified", rungs=(scores("cpu-1", 0.4123),))
    after = replace(
        START,
        designs=(gpt2, design("design-0001", title="Gated attention"),
                 design("design-0002", phase="Failed", failed_rungs={"session": "20 candidates failed the checker"})),
        budgets=(BudgetView("cpu-1", 4, 4, 1, 1, 9.0), BudgetView("cpu-2", 2, 1, 0, 0, 0.0)),
        history=((2.0, "gpt2", "cpu-1", 0.4123),), repeats_done=(("gpt2", "cpu-1", 1, 0.3987),),
        running_sessions=("design-0003",), running_verifications=(("design-0001", "cpu-1", 0),),
    )
    assert run_events(START, after) == [
        "design session design-0001 succeeded: Gated attention",
        "design session design-0002 failed: 20 candidates failed the checker",
        "verification gpt2 @ cpu-1 succeeded: fitness 0.412",
        "verification gpt2 @ cpu-1 (noise repeat 1, training seed +1) succeeded: fitness 0.399",
        "budget cpu-2: 1 of 2 runs released (was 0)",
        "design session design-0003 started",
        "verification design-0001 @ cpu-1 started",
    ]
    failed = replace(after, designs=(gpt2, replace(after.designs[1], failed_rungs={"cpu-1": "diverged: loss is nan"}),
                                     after.designs[2]),
                     running_verifications=(), completed_reason="every budget is spent")
    assert run_events(after, failed) == ["verification design-0001 @ cpu-1 failed: diverged: loss is nan",
                                         "run completed: every budget is spent"]
    assert run_events(failed, failed) == []  # nothing new, nothing printed


def test_a_run_that_ended_failed_says_so():
    ended = replace(START, phase="Failed", running_sessions=(), running_verifications=(),
                    completed_reason="the LLM designer cannot be used (design session design-0001 failed: ...)")
    assert run_events(START, ended)[-1] == ("run failed: the LLM designer cannot be used (design session design-0001 "
                                            "failed: ...)")
