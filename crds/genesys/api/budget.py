"""The ScaleBudget resource: what one rung of an Evolution's ladder may spend.

Usage is never stored as a counter: `status` is derived from the rung's
VerificationJobs each time (DESIGN.md section 4), so a crash cannot charge twice.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from genesys.api.common import API_VERSION, Condition, ObjectMeta, Strict


class ScaleBudgetSpec(Strict):
    evolution: str
    rung: str = Field(description="rung preset name, e.g. cpu-1")
    overrides: dict[str, Any] = Field(default_factory=dict)
    runs: int = Field(ge=0, description="verifications allowed at this rung")
    device_hours: float | None = Field(default=None, gt=0, alias="deviceHours")


class ScaleBudgetStatus(Strict):
    used: int = 0  # finished verifications (succeeded or failed after admission)
    running: int = 0
    released: int = 0  # runs opened so far (gradual release)
    remaining: int = 0  # released - used - running
    device_seconds: float = Field(default=0.0, alias="deviceSeconds")
    conditions: list[Condition] = Field(default_factory=list)


class ScaleBudget(Strict):
    api_version: Literal["genesys.dev/v1alpha1"] = Field(default=API_VERSION, alias="apiVersion")
    kind: Literal["ScaleBudget"] = "ScaleBudget"
    metadata: ObjectMeta
    spec: ScaleBudgetSpec
    status: ScaleBudgetStatus | None = None
