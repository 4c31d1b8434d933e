"""The words every process shares, defined once: operations, phases, statuses, failure reasons.

Two phase vocabularies exist on purpose: Kubernetes-style phases (`Running`, shown by
`kubectl get` and the local views) and the core's record phases (`running`), which
`genesys.evolution` plans over. `record_to_verification_phase` is the one mapping.
"""

from __future__ import annotations

from typing import Literal, cast, get_args

Operation = Literal["seed", "mutation", "crossover", "scratch"]
NewOperation = Literal["mutation", "crossover", "scratch"]  # what a design session may do
OPERATIONS: tuple[Operation, ...] = get_args(Operation)
NEW_OPERATIONS: tuple[NewOperation, ...] = get_args(NewOperation)

# (fewest, most) parents per operation; None: no upper bound (crossover of 2+ parents)
PARENT_COUNTS: dict[NewOperation, tuple[int, int | None]] = {
    "mutation": (1, 1),
    "crossover": (2, None),
    "scratch": (0, 0),
}

# The core's view of a design session or a verification (genesys.evolution.state).
RecordPhase = Literal["running", "succeeded", "failed"]
RECORD_PHASES: tuple[RecordPhase, ...] = get_args(RecordPhase)

# Kubernetes-style phases of the resources (status.phase).
DesignPhase = Literal["Proposed", "Designing", "Implemented", "Failed", "Verifying", "Verified"]
VerificationPhase = Literal["Pending", "Admitted", "Running", "Succeeded", "Failed"]
# Interrupted: the local runtime stopped before the run completed; running it again continues.
EvolutionPhase = Literal["Pending", "Running", "Completed", "Failed", "Interrupted"]
DESIGN_PHASES: tuple[DesignPhase, ...] = get_args(DesignPhase)
EVOLUTION_PHASES: tuple[EvolutionPhase, ...] = get_args(EvolutionPhase)

# Why a Failed design failed: it never became a design (its session failed), or it did and
# its verification failed. The views and the Design status say which.
DesignFailure = Literal["SessionFailed", "VerificationFailed"]

# What a verification process reports in result.json, and why it failed.
VerificationStatus = Literal["succeeded", "failed", "interrupted"]
VerificationFailure = Literal[
    "invalid_design",  # the manifest or a unit does not load
    "check_failed",  # the symbolic checker refused it
    "diverged",  # the loss went non-finite
    "oom",  # out of memory
    "error",  # anything else inside the process (traceback in the result)
    "preempted",  # stopped before the token budget (interrupted), lost too often
    "no_result",  # the process exited without writing result.json
    "malformed_result",  # result.json does not parse as a VerificationResult
]

_RECORD_TO_VERIFICATION: dict[RecordPhase, VerificationPhase] = {
    "running": "Running",
    "succeeded": "Succeeded",
    "failed": "Failed",
}


def record_to_verification_phase(phase: RecordPhase) -> VerificationPhase:
    """The Kubernetes phase of a verification the core sees as `phase`."""
    return _RECORD_TO_VERIFICATION[phase]


def verification_to_record_phase(phase: VerificationPhase) -> RecordPhase:
    """The core's phase of a VerificationJob: not yet finished (Pending, Admitted) counts as running."""
    if phase == "Succeeded":
        return "succeeded"
    if phase == "Failed":
        return "failed"
    return "running"


def check_parent_count(operation: str, parents: int) -> None:
    """Raise ValueError naming the fix when `operation` cannot take `parents` parents."""
    if operation not in PARENT_COUNTS:
        raise ValueError(f"unknown operation {operation!r}: use one of {', '.join(NEW_OPERATIONS)}")
    low, high = PARENT_COUNTS[cast(NewOperation, operation)]
    if parents < low or (high is not None and parents > high):
        want = f"exactly {low}" if low == high else f"at least {low}"
        raise ValueError(f"{operation} takes {want} parent(s), got {parents}: "
                         f"{'pass' if low else 'drop'} parents accordingly")
