"""The Evolution resource: one discovery run (seeds, ladder, designer, selection, stop rules).

The same manifest drives both runtimes: `kubectl apply -f evolution.yaml` on a
cluster, `genesys run evolution-local.yaml` on one machine. Defaults follow the paper
(arXiv 2506.20249, sections 4 and 5.4) where it gives numbers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from genesys.api.common import API_VERSION, Conditions, ObjectMeta, Strict
from genesys.api.vocabulary import EvolutionPhase

# Rung names of each ladder preset, lowest first. The trainer's presets
# (genesys.trainer.presets) define what each rung means; a test keeps the two in step.
LADDER_PRESETS: dict[str, tuple[str, ...]] = {
    "cpu": ("cpu-1", "cpu-2", "cpu-3"),
    "paper": ("paper-14m", "paper-31m", "paper-70m", "paper-125m", "paper-350m"),
}


class PodResources(Strict):
    """What one pod of a cluster run asks for (requests = limits); unset: the namespace's defaults."""

    cpu: str | None = Field(default=None, description="CPU cores, a Kubernetes quantity, e.g. '4' or '500m'")
    memory: str | None = Field(default=None, description="memory, a Kubernetes quantity, e.g. '16Gi'")
    gpus: int = Field(default=0, ge=0, description="nvidia.com/gpu devices per pod")


class RungBudget(Strict):
    """One rung of the ladder and what may be spent on it."""

    name: str = Field(description="rung preset name, e.g. cpu-1 or paper-14m")
    overrides: dict[str, Any] = Field(default_factory=dict, description="rung fields to override, e.g. {tokens: 5e5}")
    runs: int | None = Field(default=None, ge=0, description="verifications allowed; None: from the pyramid")
    device_hours: float | None = Field(
        default=None, gt=0, alias="deviceHours", description="device-hours allowed (in addition to runs)"
    )
    resources: PodResources | None = Field(
        default=None, description="each training pod of this rung (cluster); default: spec.resources.verification"
    )


class LadderSpec(Strict):
    """The ladder of scales: a preset's rungs (optionally overridden) or explicit rungs.

    Budgets not given per rung form a pyramid from the top: the highest rung gets
    `top_runs`, each rung below gets 1/selection_ratio times the rung above
    (paper: 1, 4, 16, 64, 256 for ratio 0.25).
    """

    # For the API server; rungs outside the preset are reported by the runtime (Ready=False).
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "has(self.preset) || (has(self.rungs) && size(self.rungs) > 0)",
         "message": "ladder needs a preset (cpu or paper) or a list of rungs"},
    ]})

    preset: Literal["cpu", "paper"] | None = "cpu"
    rungs: list[RungBudget] = Field(
        default_factory=list,
        description="explicit rungs, lowest first; with a preset, only the preset's rungs named here are used",
        # A list keyed by name: the API server refuses a rung named twice, at no CEL cost.
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    overrides: dict[str, Any] = Field(default_factory=dict, description="rung fields to override on every rung")
    selection_ratio: float = Field(default=0.25, gt=0, le=1, alias="selectionRatio")
    top_runs: int = Field(default=1, ge=1, alias="topRuns")
    # Paper section 5.4: a rung's budget opens as the rung below spends its own, so
    # early, poorly-ranked designs do not take the few runs at the top.
    gradual_release: bool = Field(default=True, alias="gradualRelease")
    seed_repeats: int = Field(
        default=1,
        ge=1,
        alias="seedRepeats",
        description="verify every seed this many times at the lowest rung, with training seeds seed, seed+1, ...; "
        "the extra runs measure training noise for the confidence quadrants and use device time, not runs "
        "(1: no extra runs)",
    )

    @model_validator(mode="after")
    def _rungs_known(self) -> LadderSpec:
        if self.preset is None and not self.rungs:
            raise ValueError("ladder needs a preset (cpu or paper) or a list of rungs")
        if self.preset is not None:
            known = LADDER_PRESETS[self.preset]
            unknown = [r.name for r in self.rungs if r.name not in known]
            if unknown:
                raise ValueError(
                    f"rungs {unknown} are not in the {self.preset!r} ladder ({', '.join(known)}); "
                    "fix the names or set preset: null to list rungs explicitly"
                )
        names = [r.name for r in self.rungs]
        if len(set(names)) != len(names):
            raise ValueError(f"ladder.rungs lists a rung twice: {names}")
        return self

    def rung_names(self) -> list[str]:
        """The rungs in use, lowest first."""
        if self.preset is None:
            return [r.name for r in self.rungs]
        if not self.rungs:
            return list(LADDER_PRESETS[self.preset])
        named = {r.name for r in self.rungs}
        return [n for n in LADDER_PRESETS[self.preset] if n in named]

    def rung(self, name: str) -> RungBudget:
        """The explicit entry of rung `name`, or an empty one (pyramid budget, no overrides)."""
        for r in self.rungs:
            if r.name == name:
                return r
        return RungBudget(name=name)


# The agent roles of the LLM design session (paper section 3): what `llm.roles` may name.
LLM_ROLES: tuple[str, ...] = ("proposer", "reviewer", "planner", "coder", "observer")


class LLMModelChoice(Strict):
    """One model a role may call; a role with several picks one per call, in proportion to the weights."""

    model: str = Field(min_length=1, description="litellm model name, provider/model, e.g. openai/gpt-4o")
    weight: float = Field(default=1.0, gt=0, description="relative share of this role's calls (> 0)")


class LLMRoleSettings(Strict):
    """How one role calls its LLM; an unset field takes the value of `roles.default`."""

    # The list-map marks sit on the list itself (not on the optional around it), where Kubernetes reads them.
    models: Annotated[list[LLMModelChoice], Field(
        min_length=1, json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["model"]},
    )] | None = Field(default=None, description="models to choose from, each with a weight; unset: the default role's")
    api_base: str | None = Field(
        default=None, alias="apiBase", description="endpoint URL, e.g. http://vllm:8000/v1; unset: the provider's"
    )
    api_key_env: str | None = Field(
        default=None,
        alias="apiKeyEnv",
        description="name of the environment variable holding the API key (e.g. OPENAI_API_KEY; never the key "
        "itself); unset: the provider's usual variable",
    )
    temperature: float | None = Field(default=None, ge=0, le=2, description="sampling temperature")
    max_tokens: int | None = Field(default=None, ge=1, alias="maxTokens", description="longest reply, in tokens")
    timeout_seconds: float | None = Field(
        default=None, gt=0, alias="timeoutSeconds", description="one call's time limit, in seconds"
    )

    @field_validator("models")
    @classmethod
    def _models_once(cls, models: list[LLMModelChoice] | None) -> list[LLMModelChoice] | None:
        names = [m.model for m in models or []]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"models {twice} are listed twice in one role; list each once and set its weight")
        return models


class LLMDefaultSettings(LLMRoleSettings):
    """The settings every role inherits unless it sets its own."""

    temperature: float | None = Field(default=0.7, ge=0, le=2, description="sampling temperature")
    max_tokens: int | None = Field(default=4096, ge=1, alias="maxTokens", description="longest reply, in tokens")
    timeout_seconds: float | None = Field(
        default=120.0, gt=0, alias="timeoutSeconds", description="one call's time limit, in seconds"
    )


def _has_models(role: str) -> str:
    return f"(has(self.{role}) && has(self.{role}.models))"


class LLMRoles(Strict):
    """Per-role LLM settings: `default` and the five roles, each role inheriting what it leaves unset."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": " || ".join([_has_models("default"), "(" + " && ".join(map(_has_models, LLM_ROLES)) + ")"]),
         "message": "llm.roles: give roles.default.models, or models for every role (" + ", ".join(LLM_ROLES) + ")"},
    ]})

    default: LLMDefaultSettings = Field(default_factory=LLMDefaultSettings, description="inherited by every role")
    proposer: LLMRoleSettings | None = Field(default=None, description="writes proposals")
    reviewer: LLMRoleSettings | None = Field(default=None, description="rates proposals")
    planner: LLMRoleSettings | None = Field(default=None, description="picks the next unit to implement")
    coder: LLMRoleSettings | None = Field(default=None, description="writes a unit's code")
    observer: LLMRoleSettings | None = Field(default=None, description="reviews a unit's code")

    @model_validator(mode="before")
    @classmethod
    def _known_roles(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - {"default", *LLM_ROLES})
            if unknown:
                raise ValueError(
                    f"llm.roles: unknown role(s) {unknown}; the roles are default, {', '.join(LLM_ROLES)}"
                )
        return data

    @model_validator(mode="after")
    def _every_role_has_models(self) -> LLMRoles:
        if self.default.models is None:
            missing = [r for r in LLM_ROLES if getattr(self, r) is None or getattr(self, r).models is None]
            if missing:
                raise ValueError(
                    f"llm.roles: no models for {', '.join(missing)}: set roles.default.models "
                    "(e.g. [{model: openai/gpt-4o}]) or models on each of these roles"
                )
        return self

    def settings(self, role: str) -> LLMRoleSettings:
        """The settings of `role`: its own fields, the default role's where unset."""
        if role not in LLM_ROLES:
            raise KeyError(f"unknown LLM role {role!r}; the roles are {', '.join(LLM_ROLES)}")
        own = getattr(self, role)
        merged = self.default.model_dump(by_alias=False)
        if own is not None:
            merged.update(own.model_dump(by_alias=False, exclude_none=True))
        return LLMRoleSettings.model_validate(merged)


class LLMPrice(Strict):
    """What a model costs, in US dollars per million tokens (for models litellm has no price for)."""

    input: float = Field(ge=0, description="USD per million prompt tokens")
    output: float = Field(ge=0, description="USD per million completion tokens")


class LLMLimits(Strict):
    """The design session's limits; the defaults are the paper's (arXiv 2506.20249, section 3)."""

    proposal_attempts: int = Field(
        default=10, ge=1, alias="proposalAttempts", description="proposals written before the session fails"
    )
    reviewer_threshold: float = Field(
        default=4.0, ge=0, le=5, alias="reviewerThreshold", description="a proposal passes at this rating (0-5)"
    )
    coder_attempts: int = Field(
        default=7, ge=1, alias="coderAttempts", description="coder calls per unit in one implementation round"
    )
    observer_threshold: float = Field(
        default=3.0, ge=0, le=5, alias="observerThreshold", description="the observer accepts code at this rating"
    )
    max_failed_rounds: int = Field(
        default=3, ge=1, alias="maxFailedRounds", description="failed implementation rounds before the session fails"
    )
    search_rounds: int = Field(
        default=3, ge=0, alias="searchRounds", description="knowledge searches per proposal or review"
    )


class LLMRetry(Strict):
    """Retries of one call on rate limits, timeouts, server and connection errors (exponential backoff)."""

    tries: int = Field(default=6, ge=1, description="calls at most, the first included")
    base_delay_seconds: float = Field(
        default=2.0, ge=0, alias="baseDelaySeconds", description="wait before the 2nd try; doubles each try"
    )
    max_delay_seconds: float = Field(
        default=60.0, ge=0, alias="maxDelaySeconds", description="longest wait (a server's Retry-After included)"
    )


class LLMDesignerSpec(Strict):
    """The LLM designer (litellm, any provider): models per role, prices, cost caps, limits; used when kind is llm."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "!has(self.sessionCostCapUSD) || !has(self.evolutionCostCapUSD) "
                 "|| self.sessionCostCapUSD <= self.evolutionCostCapUSD",
         "message": "llm.sessionCostCapUSD cannot exceed llm.evolutionCostCapUSD"},
    ]})

    roles: LLMRoles = Field(description="per-role settings: default, proposer, reviewer, planner, coder, observer")
    prices: dict[str, LLMPrice] = Field(
        default_factory=dict,
        description="model -> USD per million tokens, for models litellm does not price (e.g. a local vLLM); "
        "litellm's own price wins when it has one",
    )
    session_cost_cap_usd: float | None = Field(
        default=None, gt=0, alias="sessionCostCapUSD",
        description="one design session's spending cap in US dollars; a call that could cross it is not made",
    )
    evolution_cost_cap_usd: float | None = Field(
        default=None, gt=0, alias="evolutionCostCapUSD",
        description="the whole run's LLM spending cap in US dollars; no session starts once it is reached",
    )
    session_wall_minutes: float = Field(
        default=60.0, gt=0, alias="sessionWallMinutes", description="one design session's wall-clock limit"
    )
    mode: Literal["units", "direct"] = Field(
        default="units",
        description="units: the paper's session, planned, coded and checked one unit at a time; direct: the coder "
        "writes every changed unit in one reply (the paper's baseline, for ablation)",
    )
    weaviate_url: str | None = Field(
        default=None, alias="weaviateUrl",
        description="the knowledge engine's Weaviate (e.g. http://weaviate:8080); unset: GENESYS_WEAVIATE_URL or "
        "WEAVIATE_URL, else the embedded local index",
    )
    limits: LLMLimits = Field(default_factory=LLMLimits)
    retry: LLMRetry = Field(default_factory=LLMRetry)
    secret: str | None = Field(
        default=None,
        description="cluster: a Secret in the Evolution's namespace whose keys (e.g. OPENAI_API_KEY) become the "
        "environment of design-session pods, and of no other pod",
    )

    @model_validator(mode="after")
    def _caps_ordered(self) -> LLMDesignerSpec:
        session, total = self.session_cost_cap_usd, self.evolution_cost_cap_usd
        if session is not None and total is not None and session > total:
            raise ValueError(
                f"llm.sessionCostCapUSD ({session}) cannot exceed llm.evolutionCostCapUSD ({total}); lower it"
            )
        return self

    def role(self, name: str) -> LLMRoleSettings:
        """The settings `name` calls with (its own, the default role's where unset)."""
        return self.roles.settings(name)

    def models(self) -> list[str]:
        """Every distinct model any role may call, in role order."""
        seen: dict[str, None] = {}
        for name in LLM_ROLES:
            for choice in self.role(name).models or []:
                seen.setdefault(choice.model, None)
        return list(seen)


class DesignerSpec(Strict):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "!has(self.kind) || self.kind != 'llm' || has(self.llm)",
         "message": "designer.kind llm needs designer.llm (at least roles.default.models)"},
    ]})

    kind: Literal["gp", "llm"] = "gp"
    llm: LLMDesignerSpec | None = None
    max_attempts: int = Field(
        default=20, ge=1, alias="maxAttempts", description="GP: candidates tried before a session fails"
    )
    check_scale: Literal["quick", "full"] = Field(default="quick", alias="checkScale")

    @model_validator(mode="after")
    def _llm_has_settings(self) -> DesignerSpec:
        if self.kind == "llm" and self.llm is None:
            raise ValueError("designer.kind llm needs designer.llm (at least roles.default.models, "
                             "e.g. [{model: openai/gpt-4o-mini}])")
        return self


class OperationMix(Strict):
    """How often each operation is chosen once warm-up is over (normalised, need not sum to 1)."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "self.mutation + self.crossover + self.scratch > 0.0",
         "message": "operations: at least one of mutation, crossover, scratch needs a positive weight"},
    ]})

    mutation: float = Field(default=0.75, ge=0)
    crossover: float = Field(default=0.2, ge=0)
    scratch: float = Field(default=0.05, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> OperationMix:
        if self.mutation + self.crossover + self.scratch <= 0:
            raise ValueError("operations: at least one of mutation, crossover, scratch needs a positive weight")
        return self


class SelectionSpec(Strict):
    """Parent and verification selection (paper section 4: fitness x confidence quadrants)."""

    operations: OperationMix = Field(default_factory=OperationMix)
    warmup_designs: int = Field(
        default=5, ge=0, alias="warmupDesigns", description="the first N new designs are mutations of seeds"
    )
    good_quantile: float = Field(
        default=0.5, gt=0, lt=1, alias="goodQuantile", description="designs ranked in this top share are 'good'"
    )
    confident_rungs: int = Field(
        default=2, ge=1, alias="confidentRungs", description="verified at this many rungs -> 'confident'"
    )
    explore_probability: float = Field(
        default=0.2, ge=0, le=1, alias="exploreProbability", description="pick a poor & confident parent instead"
    )
    restart_probability: float = Field(
        default=0.05, ge=0, le=1, alias="restartProbability", description="start again from a seed"
    )
    crossover_parents: int = Field(default=2, ge=2, alias="crossoverParents")
    confidence_z: float = Field(
        default=2.0,
        gt=0,
        alias="confidenceZ",
        description="a design is 'confident' only if its fitness differs from the best other seed's at its best "
        "rung by this many combined standard errors (evaluation and training noise), and not 'good' if it "
        "trails by as many",
    )


class DataSpec(Strict):
    source: str = Field(default="embedded", description="'embedded', local files/globs, or a hub dataset name")


class EvaluationSpec(Strict):
    tasks: str = Field(default="local", description="task set: local (offline) or paper9 (needs the hub)")


class ParallelismSpec(Strict):
    design_sessions: int = Field(default=1, ge=1, alias="designSessions", description="design sessions at once")
    verifications: int = Field(default=1, ge=1, description="verifications at once")
    nproc_per_verification: int = Field(default=1, ge=1, alias="nprocPerVerification", description="torchrun nproc")
    threads_per_process: int | None = Field(
        default=None,
        ge=1,
        alias="threadsPerProcess",
        description="fixed CPU threads per process (local runtime); default: the cores are shared between the "
        "running verifications and re-shared whenever one starts or ends (results do not depend on it)",
    )


class ResourcesSpec(Strict):
    """The pods of a cluster run; the local runtime ignores this."""

    session: PodResources = Field(default_factory=PodResources, description="each design-session pod")
    verification: PodResources = Field(
        default_factory=PodResources, description="each training pod; a rung's own resources replace it"
    )
    nodes: int = Field(
        default=1, ge=1, description="training pods per verification, each running nprocPerVerification processes"
    )
    queue: str | None = Field(
        default=None, description="a Kueue LocalQueue: children carry its label and start suspended until admitted"
    )


class StopSpec(Strict):
    """The run completes when any rule is met, or when every budget is spent."""

    max_designs: int | None = Field(default=None, ge=0, alias="maxDesigns", description="new designs (seeds excluded)")
    max_failed_sessions: int | None = Field(default=None, ge=0, alias="maxFailedSessions")
    max_wall_hours: float | None = Field(default=None, gt=0, alias="maxWallHours")


class ArtifactStoreSpec(Strict):
    url: str | None = Field(
        default=None, description="fsspec URL of the artifact store; None: <run dir>/artifacts (local runtime)"
    )


class EvolutionSpec(Strict):
    seeds: list[str] = Field(
        min_length=1, description="seed designs: library names (gpt2, mamba2, ...) or Design manifest paths"
    )
    ladder: LadderSpec = Field(default_factory=LadderSpec)
    designer: DesignerSpec = Field(default_factory=DesignerSpec)
    selection: SelectionSpec = Field(default_factory=SelectionSpec)
    data: DataSpec = Field(default_factory=DataSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    parallelism: ParallelismSpec = Field(default_factory=ParallelismSpec)
    artifacts: ArtifactStoreSpec = Field(default_factory=ArtifactStoreSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    stop: StopSpec = Field(default_factory=StopSpec)
    seed: int = Field(default=0, description="random seed of selection and the designer")


class Spend(Strict):
    """What a run has spent so far, summed from its verifications and design sessions."""

    device_hours: float = Field(default=0.0, ge=0, alias="deviceHours")
    usd: float = Field(default=0.0, ge=0, description="LLM designer cost in US dollars")


class EvolutionStatus(Strict):
    """What `kubectl get evolutions` and the views show; written by the runtime, never by users."""

    phase: EvolutionPhase | None = None
    designs: int = Field(default=0, ge=0, description="designs in the run, seeds included")
    designs_by_phase: dict[str, int] = Field(default_factory=dict, alias="designsByPhase")
    verified: int = Field(default=0, ge=0, description="designs verified at one rung or more")
    best_design: str | None = Field(default=None, alias="bestDesign", description="the top of the fitness rank")
    best_fitness: float | None = Field(default=None, alias="bestFitness", description="its fitness at its best rung")
    spend: Spend = Field(default_factory=Spend)
    start_time: datetime | None = Field(default=None, alias="startTime")
    completed_reason: str | None = Field(
        default=None, alias="completedReason", description="which stop rule ended the run, or why it failed"
    )
    conditions: Conditions = Field(default_factory=list)


class Evolution(Strict):
    api_version: Literal["genesys.dev/v1alpha1"] = Field(default=API_VERSION, alias="apiVersion")
    kind: Literal["Evolution"] = "Evolution"
    metadata: ObjectMeta
    spec: EvolutionSpec
    status: EvolutionStatus | None = None

    @property
    def name(self) -> str:
        return self.metadata.name
