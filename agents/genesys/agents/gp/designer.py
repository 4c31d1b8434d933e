"""The GP designer behind the design-session seam (genesys.agents.session.Designer).

Runs `run_session` with the job's limits and a check configuration whose wall-clock
limits cannot flip with the machine's load, and streams each attempt to the transcript.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from genesys.agents.gp.session import Attempt, run_session
from genesys.agents.session import DesignerResult, SessionRequest, session_check_config
from genesys.api.evolution import DesignerSpec
from genesys.api.session import SessionSpend


class GPDesigner:
    def __init__(self, spec: DesignerSpec):
        self.spec = spec

    def design(self, request: SessionRequest, record: Callable[[dict[str, Any]], None]) -> DesignerResult:
        config = session_check_config(self.spec.check_scale)

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
