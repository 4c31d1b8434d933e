"""Status patches the operator writes (genesys.operator.status)."""

from __future__ import annotations

from genesys.operator.status import changed, condition


def test_unchanged_fields_are_not_patched():
    assert changed({"phase": "Verified", "fitness": {"cpu-1": 0.4}}, {"phase": "Verified",
                                                                       "fitness": {"cpu-1": 0.4}}) == {}
    assert changed({}, {"reason": None}) == {}


def test_a_merge_patch_removes_map_keys_that_are_gone():
    before = {"designsByPhase": {"Designing": 1, "Verifying": 2}, "reason": "old"}
    patch = changed(before, {"designsByPhase": {"Verified": 3}, "reason": None})
    assert patch == {"designsByPhase": {"Designing": None, "Verifying": None, "Verified": 3}, "reason": None}


def test_a_condition_keeps_its_transition_time_while_its_status_holds():
    first = condition([], "Verified", "Unknown", "Verifying", "not verified yet")
    again = condition([first | {"lastTransitionTime": "2026-11-30T10:00:00Z"}], "Verified", "Unknown", "Verifying", "")
    assert again["lastTransitionTime"] == "2026-11-30T10:00:00Z"
    moved = condition([again], "Verified", "True", "Verified", "fitness 0.4 at cpu-1")
    assert moved["lastTransitionTime"] != "2026-11-30T10:00:00Z" and moved["status"] == "True"
