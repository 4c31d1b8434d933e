"""What an Evolution's state says about it, as metric samples: a pure function of (spec, state).

    samples = state_samples("demo", spec, state)   # {metric name: [(label values, value), ...]}

Both runtimes build the same `EvolutionState` (locally from SQLite, on a cluster from custom
resources), so both export the same numbers for the same run. Budget usage comes from the
core (genesys.evolution.ladder), never from a counter a restart could lose or double.
"""

from __future__ import annotations

from collections import Counter

from genesys.api.evolution import EvolutionSpec
from genesys.api.vocabulary import record_to_verification_phase
from genesys.evolution import budget_usage, closed_rungs, rung_budgets
from genesys.evolution.outcomes import design_phase
from genesys.evolution.state import EvolutionState
from genesys.observability.catalogue import DESIGN_PHASES, RECORD_PHASE_VALUES

Sample = tuple[tuple[str, ...], float]  # label values after `evolution`, in the metric's label order


def design_phases(state: EvolutionState) -> Counter[str]:
    """Designs by phase: members by their own verifications (calibration repeats excluded), then the
    sessions that have not made a member: running ones are Designing, failed ones Failed designs."""
    own: dict[str, list] = {d.name: [] for d in state.designs}
    for v in state.verifications:
        if v.repeat == 0 and v.design in own:
            own[v.design].append(v.phase)
    phases: Counter[str] = Counter(design_phase(own[d.name]) for d in state.designs)
    for s in state.sessions:
        if s.phase == "running":
            phases["Designing"] += 1
        elif s.phase == "failed":
            phases["Failed"] += 1
    return phases


def best_fitness(state: EvolutionState) -> dict[str, float]:
    """rung -> the best fitness of a design's own succeeded verification there."""
    best: dict[str, float] = {}
    for v in state.verifications:
        if v.phase == "succeeded" and v.repeat == 0 and v.fitness is not None:
            best[v.rung] = max(v.fitness, best.get(v.rung, v.fitness))
    return best


def verified_designs(state: EvolutionState) -> int:
    """Designs made by the evolution (not seeds) with a succeeded verification of their own."""
    made = {d.name for d in state.designs if d.operation != "seed"}
    return len({v.design for v in state.verifications if v.phase == "succeeded" and v.repeat == 0} & made)


def _by_phase(phases: Counter[str], values: tuple[str, ...]) -> list[Sample]:
    return [((p,), float(phases.get(p, 0))) for p in values]


def state_samples(spec: EvolutionSpec, state: EvolutionState) -> dict[str, list[Sample]]:
    """Every state-derived metric of one Evolution (see genesys.observability.catalogue), labels after
    `evolution`. Phases are listed whole, zeros included, so a series never vanishes when it empties."""
    budgets = rung_budgets(spec.ladder)
    usage = budget_usage(state, budgets, closed_rungs(state, spec, budgets))
    per_rung = usage.values()
    return {
        "genesys_best_fitness": [((rung,), fitness) for rung, fitness in best_fitness(state).items()],
        "genesys_scalebudget_runs_limit": [((u.rung,), float(u.runs)) for u in per_rung],
        "genesys_scalebudget_runs_released": [((u.rung,), float(u.released)) for u in per_rung],
        "genesys_scalebudget_runs_used": [((u.rung,), float(u.used)) for u in per_rung],
        "genesys_scalebudget_runs_running": [((u.rung,), float(u.running)) for u in per_rung],
        "genesys_scalebudget_device_seconds_used": [((u.rung,), u.device_seconds) for u in per_rung],
        "genesys_scalebudget_device_seconds_limit": [((u.rung,), u.device_hours * 3600) for u in per_rung
                                                     if u.device_hours is not None],
        "genesys_designs": _by_phase(design_phases(state), DESIGN_PHASES),
        "genesys_verifications": _by_phase(Counter(record_to_verification_phase(v.phase) for v in state.verifications),
                                           RECORD_PHASE_VALUES),
        "genesys_design_sessions": _by_phase(Counter(record_to_verification_phase(s.phase) for s in state.sessions),
                                             RECORD_PHASE_VALUES),
        "genesys_designs_verified": [((), float(verified_designs(state)))],
    }
