"""Scale budgets of the ladder: how many verifications each rung may run, and how many it has used.

    budgets = rung_budgets(spec.ladder)        # lowest rung first
    usage = budget_usage(state, budgets)       # {rung: Usage}, derived from verification records

Usage is recomputed from the verification records every time, never kept as a counter,
so a runtime that crashes and rebuilds its state cannot charge a run twice (DESIGN.md 4).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from genesys.api.evolution import LadderSpec
from genesys.evolution.state import EvolutionState, VerificationRecord


@dataclass(frozen=True)
class RungBudgetPlan:
    """What one rung may spend: `runs` verifications and, optionally, `device_hours`."""

    name: str
    index: int  # 0 = lowest rung
    runs: int
    device_hours: float | None = None
    gradual: bool = False  # opens as the rung below is used (gradual release), else all at once


@dataclass(frozen=True)
class Usage:
    """What one rung has spent, reserved and been given so far."""

    rung: str
    runs: int  # the rung's whole budget
    used: int  # finished verifications that are charged (succeeded, or failed after admission)
    running: int  # started and not finished: reserved
    released: int  # runs opened so far by gradual release (<= runs)
    device_seconds: float  # device time of the charged, finished verifications
    device_hours: float | None = None  # the rung's device-time limit, if any

    @property
    def remaining(self) -> int:
        """Released runs neither used nor reserved by a running verification."""
        return max(0, self.released - self.used - self.running)

    @property
    def device_spent(self) -> bool:
        return self.device_hours is not None and self.device_seconds >= self.device_hours * 3600

    @property
    def spent(self) -> bool:
        """The rung can never admit another verification."""
        return self.used >= self.runs or self.device_spent

    @property
    def admits(self) -> bool:
        """A new verification may start here now."""
        return self.remaining > 0 and not self.device_spent


def pyramid_runs(ladder: LadderSpec, count: int) -> list[int]:
    """Runs of `count` rungs, lowest first: the top gets `top_runs`, each rung below 1/ratio times more.

    Each rung's share depends only on its distance from the top (not on explicit runs
    given to the rungs above), so pinning one rung never shifts the others.
    """
    step = 1 / ladder.selection_ratio
    return [round(ladder.top_runs * step ** (count - 1 - i)) for i in range(count)]


def rung_budgets(ladder: LadderSpec) -> list[RungBudgetPlan]:
    """The budget of every rung in use, lowest first: explicit `runs` where given, else the pyramid.

    Paper preset, ratio 0.25, top_runs 1: 256, 64, 16, 4, 1 runs (arXiv 2506.20249, section 5.4).
    """
    names = ladder.rung_names()
    pyramid = pyramid_runs(ladder, len(names))
    plans = []
    for index, name in enumerate(names):
        entry = ladder.rung(name)
        runs = pyramid[index] if entry.runs is None else entry.runs
        gradual = ladder.gradual_release and index > 0
        plans.append(RungBudgetPlan(name, index, runs, entry.device_hours, gradual))
    return plans


def charged(record: VerificationRecord) -> bool:
    """Whether a verification counts against its rung's budget: finished and not lost by the runtime."""
    return record.phase == "succeeded" or (record.phase == "failed" and record.charged)


def budget_usage(
    state: EvolutionState, budgets: Sequence[RungBudgetPlan], closed: Iterable[str] = ()
) -> dict[str, Usage]:
    """Per-rung usage, lowest rung first, derived from `state.verifications`.

    Gradual release (paper section 5.4): the lowest rung is open in full; rung i opens
    `floor(runs_i * used_{i-1} / runs_{i-1})` runs, all of them once rung i-1 is spent.
    Rungs named in `closed` will admit nothing more (the planner knows when: no design
    can reach them any longer) and release the rung above in full, so a stop rule on the
    designs does not strand the budgets above. Rungs planned with `gradual=False`
    (`gradualRelease: false`) are open in full from the start.
    Calibration repeats (`repeat` > 0, ladder.seedRepeats) take no run and reserve none, but
    their device time counts: device-hours measure what was spent, whatever for.
    """
    names = [b.name for b in budgets]
    used, running, seconds = dict.fromkeys(names, 0), dict.fromkeys(names, 0), dict.fromkeys(names, 0.0)
    for r in state.verifications:  # one pass: every plan counts every verification of the run
        if r.rung not in used:
            continue
        if charged(r):
            seconds[r.rung] += r.device_seconds
            if r.repeat == 0:
                used[r.rung] += 1
        elif r.phase == "running" and r.repeat == 0:
            running[r.rung] += 1
    counted = {
        b.name: Usage(
            rung=b.name,
            runs=b.runs,
            used=used[b.name],
            running=running[b.name],
            released=b.runs,
            device_seconds=seconds[b.name],
            device_hours=b.device_hours,
        )
        for b in budgets
    }
    return release(counted, budgets, closed)


def release(
    usage: Mapping[str, Usage], budgets: Sequence[RungBudgetPlan], closed: Iterable[str] = ()
) -> dict[str, Usage]:
    """`usage` with the runs each rung has released, given the `closed` rungs (see `budget_usage`).

    Release depends on the closed rungs and those on usage, so the planner counts once and releases twice.
    """
    closed = set(closed)
    released: dict[str, Usage] = {}
    below: Usage | None = None
    for budget in budgets:
        current = replace(usage[budget.name], released=budget.runs)
        if budget.gradual and below is not None and not (below.spent or below.rung in closed):
            # below.runs > 0 here: a rung without runs is spent
            current = replace(current, released=min(budget.runs, budget.runs * below.used // below.runs))
        released[budget.name] = current
        below = current
    return released
