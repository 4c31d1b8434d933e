"""A design session's contract: the job it runs from and the outcome it leaves behind.

    python -m genesys.agents.session --job session.yaml --out STORE/EVO/designs/NAME

`DesignSessionJob` is to a design session what `VerificationJob` is to a verification:
the one input a pod or subprocess gets. `SessionOutcome` (outcome.json) is written last,
on success beside design.yaml and check.json, on failure alone; it carries the spend.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from genesys.api.common import API_VERSION, ObjectMeta, Strict
from genesys.api.contract import Contract
from genesys.api.evolution import DesignerSpec
from genesys.api.vocabulary import NewOperation, check_parent_count

# Where a failed session stopped: its input was unusable, no proposal was accepted, no
# candidate passed the checker, every candidate duplicated an existing design, the
# runtime lost it (killed) too often, its LLM could not be used at all (a missing or
# refused key, an unknown model, no answer from the endpoint: no later session would do
# better), or a cost or time cap stopped it.
SessionStage = Literal["input", "proposal", "implementation", "check", "novelty", "lost", "unavailable", "budget"]


class DesignSessionJobSpec(Strict):
    evolution: str
    operation: NewOperation
    parents: list[str] = Field(default_factory=list, description="parent design names in the artifact store")
    seed: int = Field(description="the session's random seed: same seed, same candidates")
    store: str = Field(description="artifact store (path or fsspec URL) holding the evolution's designs")
    designer: DesignerSpec = Field(default_factory=DesignerSpec)
    attempt: int = Field(default=1, ge=1, description="which start of this session (retries after a loss)")
    spent_usd: float = Field(
        default=0.0, ge=0, alias="spentUsd",
        description="LLM spend of the evolution's other sessions when this one started (llm.evolutionCostCapUSD)",
    )

    @model_validator(mode="after")
    def _parents_fit(self) -> DesignSessionJobSpec:
        check_parent_count(self.operation, len(self.parents))
        return self


class DesignSessionJob(Strict):
    """The design session's job manifest; `metadata.name` is the name its design gets."""

    api_version: Literal["genesys.dev/v1alpha1"] = Field(default=API_VERSION, alias="apiVersion")
    kind: Literal["DesignSessionJob"] = "DesignSessionJob"
    metadata: ObjectMeta
    spec: DesignSessionJobSpec


class SessionSpend(Contract):
    """What a session cost: wall time, checker runs and, for an LLM designer, calls, tokens and dollars."""

    seconds: float = 0.0
    checks: int = 0
    llm_calls: int = 0
    tokens: int = 0
    usd: float = 0.0


class SessionOutcome(Contract):
    """outcome.json: how a design session ended."""

    schema_version: Literal[1] = Field(default=1, alias="schemaVersion")
    design: str
    status: Literal["succeeded", "failed"]
    title: str = ""  # the proposal's title (succeeded)
    stage: SessionStage | None = None  # failed: where it stopped
    reason: str | None = None  # failed: why, in one line a user can act on
    attempts: int = 0  # candidates generated, duplicates included
    checked: int = 0  # candidates the checker ran on
    spend: SessionSpend = Field(default_factory=SessionSpend)

    @model_validator(mode="after")
    def _failure_explained(self) -> SessionOutcome:
        if self.status == "failed" and (self.stage is None or not self.reason):
            raise ValueError("a failed session outcome needs a stage and a reason")
        return self
