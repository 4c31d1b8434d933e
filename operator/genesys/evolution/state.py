"""What the evolution core sees and decides: records of designs and verifications, and actions.

Both runtimes build an `EvolutionState` from their store (SQLite rows locally,
custom resources on a cluster) and execute the `Action`s that `plan` returns.
Everything here is an immutable value: no I/O, no clocks, no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from genesys.api.vocabulary import NewOperation, Operation, RecordPhase


@dataclass(frozen=True)
class DesignRecord:
    """A design of the population: a seed, or the product of a finished design session."""

    name: str
    operation: Operation
    parents: tuple[str, ...] = ()
    order: int = 0  # creation order (0, 1, 2, ...): ties and "the first N designs" use it


@dataclass(frozen=True)
class SessionRecord:
    """A design session (GP or LLM) started by a `StartDesignSession` action."""

    name: str  # the name its design gets when it succeeds
    operation: Operation
    parents: tuple[str, ...]
    phase: RecordPhase
    # a finished session: its LLM spend in US dollars (its outcome's spend.usd; 0 without an outcome)
    usd: float = 0.0
    # a failed session: the reason `genesys.evolution.outcomes.settle_session` gave, "<stage>: <why>"
    reason: str | None = None


@dataclass(frozen=True)
class VerificationRecord:
    """One verification of one design at one rung; usage of budgets is derived from these."""

    name: str
    design: str
    rung: str
    phase: RecordPhase
    # per-task normalised scores (genesys.evaluation: higher is better) and their random baselines
    scores: Mapping[str, float] = field(default_factory=dict)
    baselines: Mapping[str, float] = field(default_factory=dict)
    fitness: float | None = None
    device_seconds: float = 0.0
    # a failed verification of an admitted run still spends its budget, except when the
    # runtime itself lost it (preempted): those are retried under the same name
    charged: bool = True
    # 0: the design's verification at the rung; k > 0: a calibration run of a seed with training
    # seed spec.seed + k (ladder.seedRepeats), which measures training noise and nothing else
    repeat: int = 0
    fitness_stderr: float | None = None  # the evaluation's sampling stderr of `fitness` (not training noise)


@dataclass(frozen=True)
class EvolutionState:
    designs: tuple[DesignRecord, ...] = ()
    sessions: tuple[SessionRecord, ...] = ()
    verifications: tuple[VerificationRecord, ...] = ()
    elapsed_hours: float = 0.0  # wall time of the run so far (for stop.maxWallHours)

    def design(self, name: str) -> DesignRecord:
        for d in self.designs:
            if d.name == name:
                return d
        raise KeyError(name)


def verification_name(design: str, rung: str, repeat: int = 0) -> str:
    """The one name of `design`'s verification at `rung` (and repeat): a retry reuses it, a duplicate collides."""
    return f"{design}-{rung}" if repeat == 0 else f"{design}-{rung}-r{repeat}"


@dataclass(frozen=True)
class StartDesignSession:
    """Run a design session producing design `name` from `parents` by `operation`."""

    name: str
    operation: NewOperation
    parents: tuple[str, ...]
    seed: int  # the session's own random seed (derived from the plan's rng)


@dataclass(frozen=True)
class StartVerification:
    """Verify `design` at `rung`; `name` is unique per (design, rung, repeat).

    `repeat` > 0 is a calibration run (training seed spec.seed + repeat): it spends device time
    but no run of the rung's budget, and its result never enters the rating.
    """

    name: str
    design: str
    rung: str
    repeat: int = 0


@dataclass(frozen=True)
class Complete:
    """Nothing more will ever be started: the run is finished (`reason` says which rule).

    `failed`: it ended because it cannot go on (its LLM designer is unusable), not because a stop
    rule or the budgets said so; runtimes show it as phase Failed.
    """

    reason: str
    failed: bool = False


Action = StartDesignSession | StartVerification | Complete
