"""The VerificationJob resource: pretrain and evaluate one design at one rung.

Pods and local subprocesses receive it as a job file (`genesys verify --job FILE`)
and write `result.json` into the artifact store; the runtime copies the small
results back into `status`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from genesys.api.common import API_VERSION, Condition, ObjectMeta, Strict
from genesys.api.vocabulary import VerificationPhase


class VerificationJobSpec(Strict):
    evolution: str | None = None
    design: str = Field(description="Design name, or a manifest path / URL in the artifact store")
    rung: str = Field(description="rung preset, e.g. cpu-1 or paper-14m")
    overrides: dict[str, Any] = Field(default_factory=dict, description="rung fields to override, e.g. {lr: 2e-3}")
    tasks: str = "local"  # evaluation task set: local | paper9
    data: str = "embedded"  # 'embedded', local files, or a hub dataset name
    seed: int = 0
    check: bool = True  # run the symbolic checker first
    attempt: int = Field(default=1, ge=1, description="which start of this verification (retries after a loss)")


class VerificationJobStatus(Strict):
    phase: VerificationPhase | None = None
    fitness: float | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    device_seconds: float | None = Field(default=None, alias="deviceSeconds")
    attempts: int = 0
    conditions: list[Condition] = Field(default_factory=list)


class VerificationJob(Strict):
    api_version: Literal["genesys.dev/v1alpha1"] = Field(default=API_VERSION, alias="apiVersion")
    kind: Literal["VerificationJob"] = "VerificationJob"
    metadata: ObjectMeta
    spec: VerificationJobSpec
    status: VerificationJobStatus | None = None
