"""Status patches the operator writes (genesys.operator.status)."""

from __future__ import annotations

from genesys.operator.status import changed


def test_unchanged_fields_are_not_patched():
    assert changed({"phase": "Verified", "fitness": {"cpu-1": 0.4}}, {"phase": "Verified",
                                                                       "fitness": {"cpu-1": 0.4}}) == {}
    assert changed({}, {"reason": None}) == {}


def test_a_merge_patch_removes_map_keys_that_are_gone():
    before = {"designsByPhase": {"Designing": 1, "Verifying": 2}, "reason": "old"}
    patch = changed(before, {"designsByPhase": {"Verified": 3}, "reason": None})
    assert patch == {"designsByPhase": {"Designing": None, "Verifying": None, "Verified": 3}, "reason": None}
