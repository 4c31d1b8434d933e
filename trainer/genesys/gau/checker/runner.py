"""Runs the dynamic checks of one design in order, reporting each as it finishes.

Called inside the sandboxed worker. Execution order differs from report order:
`efficiency` runs right after `forward`, so a design far slower than the reference
is stopped before the expensive checks (its other checks are then skipped).
"""

from __future__ import annotations

from typing import Any, Callable

from genesys.api import Design
from genesys.gau.checker.causality import check_causality
from genesys.gau.checker.config import DYNAMIC_CHECKS, CheckConfig
from genesys.gau.checker.costs import check_complexity, check_efficiency
from genesys.gau.checker.probes import Probe, check_forward, check_gradients, check_init, check_stability, timed
from genesys.gau.checker.report import CheckResult

CHECKS: dict[str, Callable[[Probe], CheckResult]] = {
    "init": check_init,
    "forward": check_forward,
    "efficiency": check_efficiency,
    "causality": check_causality,
    "gradients": check_gradients,
    "stability": check_stability,
    "complexity": check_complexity,
}
assert set(CHECKS) == set(DYNAMIC_CHECKS)
# A check whose failure makes the later ones meaningless.
PREREQUISITES = {"init": "the model does not build (see init)", "forward": "the forward pass fails (see forward)"}


def run_checks(design: Design, config: CheckConfig, send: Callable[..., Any]) -> list[CheckResult]:
    """Run every requested dynamic check; `send(event=..., ...)` streams progress and results."""
    probe = Probe(design, config)
    blocker: str | None = None
    results = []
    for name, check in CHECKS.items():
        if not config.wants(name):
            result = CheckResult(name, "skipped", "not requested (CheckConfig.only)")
        elif blocker or probe.abort:
            result = CheckResult(name, "skipped", f"not run: {blocker or probe.abort}")
        else:
            send(event="start", check=name)
            result = timed(name, check)(probe)
            if result.status == "fail" and name in PREREQUISITES:
                blocker = PREREQUISITES[name]
        results.append(result)
        send(event="result", result=result.to_dict())
    return results
