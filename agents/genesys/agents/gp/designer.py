"""The GP designer behind the design-session seam (genesys.agents.session.Designer).

Runs `run_session` with the job's limits and a check configuration whose wall-clock
limits cannot flip with the machine's load, and streams each attempt to the transcript.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from genesys.agents.gp.session import Attempt, run_session
from genesys.agents.session import DesignerResult, SessionRequest
from genesys.api.evolution import DesignerSpec
from genesys.api.session import SessionSpend

# Wall-clock ratios swing with the machine's load (just over 3x was seen on a busy box); a
# session's verdict must not, or the same seed makes a different design. FLOPs and memory
# ratios (deterministic) keep their limits; time fails only when far off.
TIME_LIMITS = {"time_ratio": (1.5, 10.0), "abort_time_ratio": 20.0}


class GPDesigner:
    def __init__(self, spec: DesignerSpec):
        self.spec = spec

    def design(self, request: SessionRequest, record: Callable[[dict[str, Any]], None]) -> DesignerResult:
        from genesys.gau.checker import CheckConfig, quick_config

        config = quick_config(**TIME_LIMITS) if self.spec.check_scale == "quick" else CheckConfig(**TIME_LIMITS)

        def on_attempt(attempt: Attempt) -> None:
            record({"event": "attempt", **attempt.to_dict()})

        result = run_session(request.name, request.operation, request.parents, request.existing, request.seed,
                             self.spec.max_attempts, config, evolution=request.evolution, on_attempt=on_attempt)
        reason = None
        if result.design is None:
            last = result.attempts[-1].reason if result.attempts else "no attempt was made"
            reason = f"no candidate passed in {result.checked} checked attempt(s); last: {last}"
        return DesignerResult(result.design, result.report, result.stage, reason, len(result.attempts),
                              result.checked, SessionSpend(checks=result.checked))
