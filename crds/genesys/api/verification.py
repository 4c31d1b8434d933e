"""The VerificationJob resource: pretrain and evaluate one design at one rung.

Pods and local subprocesses receive it as a job file (`genesys verify --job FILE`)
and write `result.json` into the artifact store; the runtime copies the small
results back into `status`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from genesys.api.common import API_VERSION, Conditions, ObjectMeta, Strict
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
    """The small results of result.json, copied back by the runtime once the job finishes."""

    phase: VerificationPhase | None = None
    fitness: float | None = Field(default=None, description="mean normalised score over the tasks")
    scores: dict[str, float] = Field(default_factory=dict, description="task -> normalised score")
    baselines: dict[str, float] = Field(
        default_factory=dict, description="task -> the random-logits baseline's score on the same items"
    )
    fitness_stderr: float | None = Field(
        default=None, ge=0, alias="fitnessStderr", description="the evaluation's sampling stderr of fitness"
    )
    device_seconds: float | None = Field(default=None, ge=0, alias="deviceSeconds")
    charged: bool = Field(
        default=True, description="counts as a run of its rung's budget; false when the runtime lost it too often"
    )
    attempts: int = Field(default=0, ge=0, description="starts so far; a lost run is started again")
    start_time: datetime | None = Field(default=None, alias="startTime")
    completion_time: datetime | None = Field(default=None, alias="completionTime")
    reason: str | None = Field(default=None, description="why it failed, in one line a user can act on")
    conditions: Conditions = Field(default_factory=list)


class VerificationJob(Strict):
    api_version: Literal["genesys.dev/v1alpha1"] = Field(default=API_VERSION, alias="apiVersion")
    kind: Literal["VerificationJob"] = "VerificationJob"
    metadata: ObjectMeta
    spec: VerificationJobSpec
    status: VerificationJobStatus | None = None
