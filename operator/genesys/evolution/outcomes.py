"""How a finished (or lost) child settles its record: the one policy both runtimes apply.

    settlement = settle_verification(result, exit, attempts=row.attempts, max_attempts=3)
    settlement.verdict   # "succeeded" | "failed" | "retry" (start again, same name, same charge)

A runtime reads what the child left (a parsed `VerificationResult` / `SessionOutcome`, a
`ContractError` when the file is malformed, None when there is none) and how the process
ended (`Exit`), and records what this module decides. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from genesys.api.contract import ContractError
from genesys.api.results import VerificationResult
from genesys.api.session import SessionOutcome, SessionStage
from genesys.api.vocabulary import DesignFailure, DesignPhase, RecordPhase
from genesys.evolution.state import EvolutionState

Verdict = Literal["succeeded", "failed", "retry"]
DEFAULT_MAX_ATTEMPTS = 3  # starts of a child the runtime lost before it counts as failed


@dataclass(frozen=True)
class Exit:
    """How the child's process (or pod) ended, as the runtime saw it."""

    code: int | None  # exit code; None when the runtime never saw it end (it restarted, the pod is gone)
    killed: bool = False  # stopped from outside (signal, eviction, preemption): not the child's own verdict
    log: str = ""  # where its output went, for the reason a user reads


@dataclass(frozen=True)
class VerificationSettlement:
    verdict: Verdict
    reason: str | None = None
    fitness: float | None = None
    fitness_stderr: float | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    baselines: Mapping[str, float] = field(default_factory=dict)
    device_seconds: float = 0.0  # charged to a device-hours budget
    charged: bool = True  # counts as a run of the rung's budget
    summary: Mapping[str, Any] = field(default_factory=dict)  # small facts for the views


@dataclass(frozen=True)
class SessionSettlement:
    verdict: Verdict
    reason: str | None = None  # failed: "<stage>: <why>" when the session said where it stopped
    title: str = ""
    usd: float = 0.0  # what its LLM calls cost (the outcome's spend.usd; 0 without an outcome)


def charged_device_seconds(result: VerificationResult) -> float:
    """Device time a verification spends: training (wall x processes) plus evaluation, which rank 0
    runs while the other processes hold their devices idle (so it too counts once per process)."""
    if result.train is None:
        return 0.0
    evaluation = result.evaluation.seconds if result.evaluation is not None else 0.0
    return result.train.device_seconds + evaluation * result.train.world_size


def _exited_by_itself(exit: Exit | None) -> bool:
    return exit is not None and exit.code is not None and not exit.killed


def settle_verification(result: VerificationResult | ContractError | None, exit: Exit | None, *, attempts: int,
                        max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> VerificationSettlement:
    """Succeeded and failed results are final (and charged). A malformed one fails: rerunning the
    same code writes the same file. An interrupted or missing one was lost by the runtime: it is
    retried from its checkpoint under the same name, and after `max_attempts` losses fails
    uncharged (the design was never judged). A process that exited by itself without a result
    fails charged: it ran, and running it again would do the same."""
    if isinstance(result, ContractError):
        return VerificationSettlement("failed", f"malformed_result: {result}")
    if result is not None and result.status in ("succeeded", "failed"):
        return _final(result)
    if result is None and _exited_by_itself(exit):
        assert exit is not None
        return VerificationSettlement("failed", f"no_result: exited with code {exit.code} without writing "
                                                f"result.json{_see(exit)}")
    if attempts >= max_attempts:
        return VerificationSettlement("failed", f"preempted: interrupted {attempts} times", charged=False)
    return VerificationSettlement("retry")


def _see(exit: Exit) -> str:
    return f"; see {exit.log}" if exit.log else ""


def _final(result: VerificationResult) -> VerificationSettlement:
    device_seconds = charged_device_seconds(result)
    if result.status == "failed":
        return VerificationSettlement("failed", f"{result.reason}: {result.message}", device_seconds=device_seconds)
    train = result.train
    summary = {
        "params": train.params.get("non_embedding") if train else None,
        "heldout_loss": train.heldout_loss if train else None,
        "final_loss": train.final_loss if train else None,
        "fitness_stderr": result.fitness_stderr,
        "tokens": train.tokens if train else None,
        "wall_seconds": result.wall_seconds,
        "threads": result.threads,
        "world_size": train.world_size if train else 1,
    }
    return VerificationSettlement("succeeded", fitness=result.fitness, fitness_stderr=result.fitness_stderr,
                                  scores=dict(result.scores), baselines=dict(result.baselines),
                                  device_seconds=device_seconds, summary=summary)


def settle_session(outcome: SessionOutcome | ContractError | None, exit: Exit | None, *, attempts: int,
                   max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> SessionSettlement:
    """A session's outcome is final; one that left none is started again (same seed, same
    candidates) while the runtime lost it, and fails when it exited by itself without one."""
    if isinstance(outcome, ContractError):
        return SessionSettlement("failed", f"the session wrote an invalid outcome: {outcome}")
    if outcome is not None:
        usd = outcome.spend.usd
        if outcome.status == "succeeded":
            return SessionSettlement("succeeded", title=outcome.title, usd=usd)
        return SessionSettlement("failed", f"{outcome.stage}: {outcome.reason}", usd=usd)
    if _exited_by_itself(exit):
        assert exit is not None
        return SessionSettlement("failed", f"exited with code {exit.code} without writing outcome.json{_see(exit)}")
    if attempts >= max_attempts:
        return SessionSettlement("failed", f"lost {attempts} times (killed before finishing)")
    return SessionSettlement("retry")


def failed_stage(reason: str | None) -> SessionStage | None:
    """Where a failed session stopped, read back from the reason `settle_session` gave it; None when the
    session never said (it left no outcome, or an invalid one). Both runtimes record that reason as is
    (SQLite, the Design's status.reason), so the core reads the stage of either the same way."""
    stage, said, _ = (reason or "").partition(": ")
    return cast(SessionStage, stage) if said and stage in get_args(SessionStage) else None


def next_design_order(state: EvolutionState) -> int:
    """The creation order of the design a session adds now. Runtimes record outcomes in start
    order (genesys.evolution.ordering), so this is the same in every run of the same spec and seed."""
    return len(state.designs)


def design_phase(verification_phases: list[RecordPhase]) -> DesignPhase:
    """A design's phase from its own verifications (calibration repeats excluded)."""
    phases = set(verification_phases)
    if "running" in phases:
        return "Verifying"
    if "succeeded" in phases:
        return "Verified"
    if "failed" in phases:
        return "Failed"
    return "Implemented"


def design_failure(session_phase: RecordPhase | None, verification_phases: list[RecordPhase]) -> DesignFailure | None:
    """Why a design is Failed: its session failed (it never became a design) or its verification did."""
    if session_phase == "failed":
        return "SessionFailed"
    if design_phase(verification_phases) == "Failed":
        return "VerificationFailed"
    return None
