"""Scale budgets: the pyramid, usage derived from records, gradual release, device-hours."""

from __future__ import annotations

import pytest

from genesys.api.evolution import LadderSpec
from genesys.evolution import EvolutionState, VerificationRecord, budget_usage, rung_budgets
from genesys.evolution.ladder import release


def record(design: str, rung: str, phase: str = "succeeded", charged: bool = True, seconds: float = 0.0):
    return VerificationRecord(f"{design}-{rung}", design, rung, phase, charged=charged, device_seconds=seconds)


def state_of(*records: VerificationRecord) -> EvolutionState:
    return EvolutionState(verifications=records)


def test_paper_pyramid_is_256_64_16_4_1():
    budgets = rung_budgets(LadderSpec(preset="paper"))
    assert [b.runs for b in budgets] == [256, 64, 16, 4, 1]
    assert [b.name for b in budgets] == ["paper-14m", "paper-31m", "paper-70m", "paper-125m", "paper-350m"]
    assert [b.index for b in budgets] == [0, 1, 2, 3, 4]
    assert [b.gradual for b in budgets] == [False, True, True, True, True]


@pytest.mark.parametrize(
    ("ladder", "runs"),
    [
        ({"preset": "cpu"}, [16, 4, 1]),
        ({"preset": "cpu", "topRuns": 2, "selectionRatio": 0.5}, [8, 4, 2]),
        ({"preset": "paper", "selectionRatio": 0.3}, [123, 37, 11, 3, 1]),  # 1/0.3^k, rounded
        ({"preset": "cpu", "selectionRatio": 1}, [1, 1, 1]),
        # an explicit rung keeps its runs; the others keep their pyramid share
        ({"preset": "cpu", "rungs": [{"name": "cpu-1"}, {"name": "cpu-2", "runs": 9}, {"name": "cpu-3"}]}, [16, 9, 1]),
        ({"preset": "cpu", "rungs": [{"name": "cpu-1"}, {"name": "cpu-3"}]}, [4, 1]),
        ({"preset": None, "rungs": [{"name": "a", "runs": 0}, {"name": "b"}]}, [0, 1]),
    ],
)
def test_budgets_from_the_pyramid_and_explicit_runs(ladder, runs):
    assert [b.runs for b in rung_budgets(LadderSpec.model_validate(ladder))] == runs


def test_usage_is_derived_from_records():
    budgets = rung_budgets(LadderSpec(preset="cpu"))  # 16, 4, 1
    state = state_of(
        record("a", "cpu-1", seconds=10),
        record("b", "cpu-1", "failed", seconds=5),  # failed after admission: charged
        record("c", "cpu-1", "failed", charged=False, seconds=99),  # lost by the runtime: free
        record("d", "cpu-1", "running"),
        record("e", "cpu-1", "running"),
        record("a", "elsewhere"),  # not a rung of this ladder
    )
    u = budget_usage(state, budgets)["cpu-1"]
    assert (u.runs, u.used, u.running, u.released, u.remaining) == (16, 2, 2, 16, 12)
    assert u.device_seconds == 15
    assert u.admits and not u.spent
    assert list(budget_usage(state, budgets)) == ["cpu-1", "cpu-2", "cpu-3"]


def test_gradual_release_grows_with_the_rung_below():
    budgets = rung_budgets(LadderSpec(preset="paper"))  # 256, 64, 16, 4, 1
    used0 = [record(f"d{i}", "paper-14m") for i in range(10)]
    usage = budget_usage(state_of(*used0), budgets)
    assert usage["paper-14m"].released == 256
    assert usage["paper-31m"].released == 64 * 10 // 256 == 2
    assert usage["paper-70m"].released == 0  # nothing used at 31m yet
    assert usage["paper-350m"].released == 0

    at_31m = [record(f"d{i}", "paper-31m", "running") for i in range(2)]
    usage = budget_usage(state_of(*used0, *at_31m), budgets)
    assert usage["paper-31m"].remaining == 0  # running runs hold the released ones

    spent0 = [record(f"d{i}", "paper-14m", "failed") for i in range(256)]
    usage = budget_usage(state_of(*spent0), budgets)
    assert usage["paper-14m"].spent
    assert usage["paper-31m"].released == 64  # the rung below is spent: all of it


def test_without_gradual_release_everything_is_open():
    budgets = rung_budgets(LadderSpec(preset="paper", gradualRelease=False))
    usage = budget_usage(EvolutionState(), budgets)
    assert [u.released for u in usage.values()] == [256, 64, 16, 4, 1]


def test_a_closed_rung_releases_the_rung_above_in_full():
    budgets = rung_budgets(LadderSpec(preset="cpu"))  # 16, 4, 1
    state = state_of(record("a", "cpu-1"), record("b", "cpu-1"))
    assert budget_usage(state, budgets)["cpu-2"].released == 0
    usage = budget_usage(state, budgets, closed={"cpu-1"})
    assert usage["cpu-2"].released == 4
    assert usage["cpu-3"].released == 0  # cpu-2 is neither used nor closed


@pytest.mark.parametrize("closed", [(), ("cpu-1",), ("cpu-2",), ("cpu-1", "cpu-2"), ("cpu-1", "cpu-2", "cpu-3")])
def test_usage_counted_once_and_released_again_is_usage_with_those_rungs_closed(closed):
    budgets = rung_budgets(LadderSpec(preset="cpu"))  # 16, 4, 1
    state = state_of(record("a", "cpu-1"), record("b", "cpu-1", "running"), record("a", "cpu-2", seconds=7))
    counted = budget_usage(state, budgets, closed=("cpu-1",))  # released runs are set again, counts are kept
    assert release(counted, budgets, closed) == budget_usage(state, budgets, closed)


def test_device_hours_stop_admission_once_finished_time_reaches_the_limit():
    ladder = LadderSpec.model_validate({"preset": "cpu", "rungs": [{"name": "cpu-1", "deviceHours": 1}]})
    budgets = rung_budgets(ladder)
    assert [b.runs for b in budgets] == [1]  # only cpu-1 is in use, and it is the top
    ladder = LadderSpec.model_validate({"preset": None, "rungs": [{"name": "a", "runs": 10, "deviceHours": 1}]})
    budgets = rung_budgets(ladder)
    below = state_of(record("x", "a", seconds=3000), record("y", "a", "running", seconds=5000))
    assert budget_usage(below, budgets)["a"].admits  # running time does not count yet
    at = state_of(record("x", "a", seconds=3000), record("y", "a", seconds=600))
    u = budget_usage(at, budgets)["a"]
    assert u.device_spent and u.spent and not u.admits
    assert u.remaining == 8  # runs are left, device time is not


def test_calibration_repeats_spend_device_time_but_no_runs():
    repeats = [
        VerificationRecord("s-a-r1", "s", "a", "succeeded", device_seconds=3600.0, repeat=1),
        VerificationRecord("s-a-r2", "s", "a", "running", repeat=2),
    ]
    ladder = LadderSpec(preset=None, rungs=[{"name": "a", "runs": 1, "deviceHours": 1.5}])
    usage = budget_usage(state_of(record("s", "a", seconds=100.0), *repeats), rung_budgets(ladder))["a"]
    assert (usage.used, usage.running, usage.device_seconds) == (1, 0, 3700.0)
    assert budget_usage(state_of(*repeats), rung_budgets(ladder))["a"].admits
