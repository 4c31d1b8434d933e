"""The ScaleBudget resource: what one rung of an Evolution's ladder may spend.

Usage is never stored as a counter: `status` is a view the runtime recomputes from
the rung's VerificationJobs each time (DESIGN.md section 4), so a crash cannot charge
twice and a lost status is simply written again.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from genesys.api.common import API_VERSION, Conditions, ObjectMeta, Strict


class ScaleBudgetSpec(Strict):
    evolution: str
    rung: str = Field(description="rung preset name, e.g. cpu-1")
    overrides: dict[str, Any] = Field(default_factory=dict)
    runs: int = Field(ge=0, description="verifications allowed at this rung")
    device_hours: float | None = Field(default=None, gt=0, alias="deviceHours")


class RunCounts(Strict):
    """Verifications of one rung by state; released - used - running may still start."""

    total: int = Field(default=0, ge=0, description="runs in the rung's budget")
    released: int = Field(default=0, ge=0, description="runs opened so far (gradual release, paper section 5.4)")
    used: int = Field(default=0, ge=0, description="finished verifications, succeeded or failed after admission")
    running: int = Field(default=0, ge=0)


class ScaleBudgetStatus(Strict):
    """A view of the rung's VerificationJobs, recomputed on every reconcile; never a counter."""

    runs: RunCounts = Field(default_factory=RunCounts)
    device_hours: float = Field(default=0.0, ge=0, alias="deviceHours", description="device time of its verifications")
    conditions: Conditions = Field(default_factory=list)


class ScaleBudget(Strict):
    api_version: Literal["genesys.dev/v1alpha1"] = Field(default=API_VERSION, alias="apiVersion")
    kind: Literal["ScaleBudget"] = "ScaleBudget"
    metadata: ObjectMeta
    spec: ScaleBudgetSpec
    status: ScaleBudgetStatus | None = None
