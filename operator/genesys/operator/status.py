"""What the operator writes into statuses, derived from the state: nothing here is counted.

    view = status_view(evolution, designs, verification_jobs, state)
    view.designs["demo-gpt2"]     # the Design's status fields derived from its VerificationJobs
    view.evolution                # designs by phase, verified, best design, spend
    view.budgets["cpu-1"]         # a rung's ScaleBudget status (runs, device-hours)

Pure: the same views the local runtime shows, computed from the same core functions
(`leaderboard`, `design_phase`, `budget_usage`), so an operator restart recomputes them
exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from genesys.api.evolution import Evolution
from genesys.evolution import budget_usage, closed_rungs, leaderboard, rung_budgets
from genesys.evolution.outcomes import design_phase
from genesys.evolution.state import EvolutionState, VerificationRecord
from genesys.operator.builders import scale_budget_status
from genesys.operator.names import logical_name
from genesys.operator.state import DesignView

Manifest = dict[str, Any]


@dataclass(frozen=True)
class StatusView:
    designs: dict[str, Manifest]  # Kubernetes name -> Design status fields the operator derives
    evolution: Manifest  # Evolution status fields (without phase, startTime and conditions)
    budgets: dict[str, Manifest]  # rung -> ScaleBudget status


def _own(records: Sequence[VerificationRecord]) -> dict[str, list[VerificationRecord]]:
    """Each design's own verifications (calibration repeats measure noise, not the design)."""
    mine: dict[str, list[VerificationRecord]] = {}
    for r in records:
        if r.repeat == 0:
            mine.setdefault(r.design, []).append(r)
    return mine


def _design_fields(obj: Mapping[str, Any], mine: list[VerificationRecord], rungs: list[str],
                   ratings: Mapping[str, float]) -> Manifest | None:
    """A Design's derived status; None for one whose session has not produced a design (yet)."""
    status = obj.get("status") or {}
    if status.get("order") is None or status.get("phase") in ("Designing", "Proposed") or (
            status.get("failure") == "SessionFailed"):
        return None
    name = logical_name(obj)
    fitness = {r.rung: r.fitness for r in sorted(mine, key=lambda r: rungs.index(r.rung))
               if r.phase == "succeeded" and r.fitness is not None}
    best = max(fitness, key=rungs.index, default=None)
    phase = design_phase([r.phase for r in mine])
    failed = [r for r in mine if r.phase == "failed"]
    fields: Manifest = {
        "phase": phase,
        "fitness": fitness,
        "bestRung": best,
        "bestFitness": fitness.get(best) if best else None,
        "rating": ratings.get(name),
        "failure": "VerificationFailed" if phase == "Failed" else None,
        "reason": None,
    }
    if phase == "Failed":
        fields["reason"] = f"verification at {failed[-1].rung} failed"
    verified = {"Verified": ("True", "Verified", f"fitness {fields['bestFitness']} at {best}"),
                "Failed": ("False", "VerificationFailed", fields["reason"] or "")}.get(
        phase, ("Unknown", phase, "not verified yet"))
    fields["conditions"] = [condition(status.get("conditions") or [], "Verified", *verified)]
    return fields


def condition(current: list[Mapping[str, Any]], kind: str, status: str, reason: str, message: str) -> Manifest:
    """A metav1.Condition of `kind`; its lastTransitionTime moves only when its status does."""
    before = next((c for c in current if c.get("type") == kind), None)
    since = before.get("lastTransitionTime") if before and before.get("status") == status else None
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": since or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def status_view(evolution: Evolution, designs: Sequence[Mapping[str, Any]],
                verification_jobs: Sequence[Mapping[str, Any]], state: EvolutionState) -> StatusView:
    spec = evolution.spec
    rungs = spec.ladder.rung_names()
    board = leaderboard(state, spec)
    ratings = {s.design: s.rating for s in board}
    mine = _own(state.verifications)
    derived = {}
    for obj in designs:
        fields = _design_fields(obj, mine.get(logical_name(obj), []), rungs, ratings)
        if fields is not None:
            derived[obj["metadata"]["name"]] = fields
    by_phase: dict[str, int] = {}
    for obj in designs:
        phase = (derived.get(obj["metadata"]["name"]) or obj.get("status") or {}).get("phase") or "Proposed"
        by_phase[phase] = by_phase.get(phase, 0) + 1
    plans = rung_budgets(spec.ladder)
    usage = budget_usage(state, plans, closed_rungs(state, spec, plans, board))
    seconds = sum(u.device_seconds for u in usage.values())
    usd = sum(float((obj.get("status") or {}).get("sessionUsd") or 0.0) for obj in designs)
    top = board[0] if board else None
    status = {
        "designs": len(designs),
        "designsByPhase": dict(sorted(by_phase.items())),
        "verified": sum(1 for fields in derived.values() if fields["fitness"]),
        "bestDesign": top.design if top else None,
        "bestFitness": top.best_fitness if top else None,
        "spend": {"deviceHours": seconds / 3600, "usd": usd},
    }
    return StatusView(derived, status, {rung: scale_budget_status(u) for rung, u in usage.items()})


def changed(current: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> Manifest:
    """The merge patch that makes `current` hold `fields`: changed keys only; None removes a field,
    and a map's keys that are gone are removed too (a merge patch merges maps key by key)."""
    current = current or {}
    patch: Manifest = {}
    for key, value in fields.items():
        if current.get(key) == value or (value is None and key not in current):
            continue
        old = current.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            value = {**dict.fromkeys(set(old) - set(value)), **value}
        patch[key] = value
    return patch


def design_view(obj: Mapping[str, Any]) -> DesignView:
    return DesignView.model_validate(obj.get("spec") or {})
