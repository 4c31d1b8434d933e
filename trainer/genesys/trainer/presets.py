"""Rungs of the ladder of scales, as the trainer reads them: named presets returning frozen configs.

    rung = get_rung("cpu-1")                       # or "paper-14m", ...
    rung = with_overrides(rung, {"lr": 2e-3})      # from a VerificationJob spec or --set

The presets are defined once, in genesys.api.rungs, so that a runtime without torch
checks a ladder against the same table the trainer trains from.
"""

from __future__ import annotations

from genesys.api.rungs import (
    CPU_TOKENS_PER_PARAM,
    LADDERS,
    PresetError,
    RungConfig,
    Schedule,
    cpu_ladder,
    debug_rung,
    get_rung,
    paper_ladder,
    parse_overrides,
    rungs,
    with_overrides,
)

__all__ = [
    "CPU_TOKENS_PER_PARAM",
    "LADDERS",
    "PresetError",
    "RungConfig",
    "Schedule",
    "cpu_ladder",
    "debug_rung",
    "get_rung",
    "paper_ladder",
    "parse_overrides",
    "rungs",
    "with_overrides",
]
