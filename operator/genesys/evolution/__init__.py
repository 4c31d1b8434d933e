"""genesys.evolution: the pure core of a run: ladder budgets, fitness rank, selection, plan(state) -> actions.

    actions = plan(state, spec, random.Random(seed))

No torch, no I/O, no clocks: both runtimes (kopf operator, local runner) build an
`EvolutionState` from their store and execute the actions.
"""

from genesys.evolution.fitness import Quadrant, Standing, leaderboard, massey_ratings
from genesys.evolution.ladder import RungBudgetPlan, Usage, budget_usage, rung_budgets
from genesys.evolution.planner import closed_rungs, design_stop, plan
from genesys.evolution.selection import choose_operation, select_parents, verification_candidates
from genesys.evolution.state import (
    Action,
    Complete,
    DesignRecord,
    EvolutionState,
    SessionRecord,
    StartDesignSession,
    StartVerification,
    VerificationRecord,
    verification_name,
)

__all__ = [
    "Action",
    "Complete",
    "DesignRecord",
    "EvolutionState",
    "Quadrant",
    "RungBudgetPlan",
    "SessionRecord",
    "Standing",
    "StartDesignSession",
    "StartVerification",
    "Usage",
    "VerificationRecord",
    "budget_usage",
    "choose_operation",
    "closed_rungs",
    "design_stop",
    "leaderboard",
    "massey_ratings",
    "plan",
    "rung_budgets",
    "select_parents",
    "verification_candidates",
    "verification_name",
]
