"""The core's view of an Evolution on a cluster: its Designs and VerificationJobs -> `EvolutionState`.

    state = evolution_state(designs, verification_jobs, now, started=evolution_start)
    actions = plan(state, spec, turn_rng(spec.seed, state))

The inputs are custom resources as the API server returns them (dicts from a fresh LIST).
What the core needs and Kubernetes has no field for is written by the builders: the logical
names (annotations, see `names`), a verification's repeat (label) and each child's place in
the start order (annotation), so outcomes and ties are seen as the local runtime sees them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from genesys.api.design import DesignStatus
from genesys.api.verification import VerificationJobSpec, VerificationJobStatus
from genesys.api.vocabulary import Operation, RecordPhase, verification_to_record_phase
from genesys.evolution.state import DesignRecord, EvolutionState, SessionRecord, VerificationRecord
from genesys.operator.names import annotation, logical_name

DESIGN_LABEL = "genesys.dev/design"
RUNG_LABEL = "genesys.dev/rung"
REPEAT_LABEL = "genesys.dev/repeat"
START_ANNOTATION = "genesys.dev/start-order"

# Phases of a Design whose session has ended with a design (a Failed one failed its verification).
_IMPLEMENTED = frozenset({"Implemented", "Verifying", "Verified"})


class DesignView(BaseModel):
    """The part of a Design's spec the core reads; `tree` only matters as present or absent.

    Not `DesignSpec`: that requires the tree, which a Design lacks while its session runs.
    """

    model_config = ConfigDict(extra="ignore")

    operation: Operation = "seed"
    parents: list[str] = Field(default_factory=list)
    tree: dict[str, Any] | None = None


def _status(obj: Mapping[str, Any], model: type[BaseModel]) -> Any:
    # A child the operator has just created has no status yet: the model's defaults.
    return model.model_validate(obj.get("status") or {})


def start_order(obj: Mapping[str, Any]) -> tuple[int, str]:
    """Sort key: the start order the builder wrote, then the name with its numbers read as numbers."""
    order = annotation(obj, START_ANNOTATION)
    name = logical_name(obj)
    natural = re.sub(r"\d+", lambda m: m.group().zfill(12), name)
    return (int(order) if order is not None else -1, natural)


def session_phase(view: DesignView, status: DesignStatus) -> RecordPhase | None:
    """The phase of a Design's session; None for a seed, which had none.

    A session has succeeded once its outcome is recorded whole (phase and order set, the
    handler writes both in one status patch); until then it runs, even with a tree.
    """
    if view.operation == "seed":
        return None
    if status.phase == "Failed" and status.failure == "SessionFailed":
        return "failed"
    if status.order is not None and (status.phase in _IMPLEMENTED or status.failure == "VerificationFailed"):
        return "succeeded"
    return "running"


def design_record(obj: Mapping[str, Any]) -> DesignRecord | None:
    """The Design as a member of the population, or None while it is not one (yet)."""
    view = DesignView.model_validate(obj.get("spec") or {})
    status: DesignStatus = _status(obj, DesignStatus)
    phase = session_phase(view, status)
    if status.order is None or phase not in (None, "succeeded"):
        return None  # a seed whose order is not recorded yet, a running or a failed session
    return DesignRecord(logical_name(obj), view.operation, tuple(view.parents), status.order)


def session_record(obj: Mapping[str, Any]) -> SessionRecord | None:
    """The Design's session, or None for a seed: with its LLM spend, and the reason it failed."""
    view = DesignView.model_validate(obj.get("spec") or {})
    status: DesignStatus = _status(obj, DesignStatus)
    phase = session_phase(view, status)
    if phase is None:
        return None
    return SessionRecord(logical_name(obj), view.operation, tuple(view.parents), phase,
                         usd=status.session_usd or 0.0, reason=status.reason if phase == "failed" else None)


def repeat_of(obj: Mapping[str, Any]) -> int:
    """The calibration repeat of a VerificationJob (0: the design's own verification at its rung)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return int(labels.get(REPEAT_LABEL, "0"))


def verification_record(obj: Mapping[str, Any]) -> VerificationRecord:
    """A VerificationJob as the core sees it: one without a status yet is running (its budget is reserved)."""
    spec = VerificationJobSpec.model_validate(obj["spec"])
    status: VerificationJobStatus = _status(obj, VerificationJobStatus)
    design = annotation(obj, DESIGN_LABEL)
    if design is None:
        raise ValueError(f"{obj['metadata']['name']} has no {DESIGN_LABEL} annotation: it was not made by genesys")
    return VerificationRecord(
        name=logical_name(obj), design=design, rung=spec.rung,
        phase=verification_to_record_phase(status.phase or "Pending"),
        scores=dict(status.scores), baselines=dict(status.baselines), fitness=status.fitness,
        device_seconds=status.device_seconds or 0.0, charged=status.charged, repeat=repeat_of(obj),
        fitness_stderr=status.fitness_stderr,
    )


def elapsed_hours(now: datetime, started: datetime | None) -> float:
    return 0.0 if started is None else max(0.0, (now - started).total_seconds() / 3600)


def evolution_state(designs: Sequence[Mapping[str, Any]], verification_jobs: Sequence[Mapping[str, Any]],
                    now: datetime, started: datetime | None = None) -> EvolutionState:
    """The state `plan` decides on, from one Evolution's Designs and VerificationJobs.

    Designs come in creation order (status.order, seeds first as spec.seeds lists them);
    sessions and verifications in the order they were started. `started` is the
    Evolution's status.startTime, for stop.maxWallHours.
    """
    members = [r for r in map(design_record, designs) if r is not None]
    sessions = [(start_order(obj), r) for obj in designs if (r := session_record(obj)) is not None]
    verifications = [(start_order(obj), verification_record(obj)) for obj in verification_jobs]
    return EvolutionState(
        designs=tuple(sorted(members, key=lambda r: r.order)),
        sessions=tuple(r for _, r in sorted(sessions, key=lambda pair: pair[0])),
        verifications=tuple(r for _, r in sorted(verifications, key=lambda pair: pair[0])),
        elapsed_hours=elapsed_hours(now, started),
    )

