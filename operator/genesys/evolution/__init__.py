"""genesys.evolution: the pure core of a run: ladder budgets, fitness rank, selection, plan(state) -> actions.

    actions = plan(state, spec, random.Random(seed))

No torch, no I/O, no clocks: both runtimes (kopf operator, local runner) build an
`EvolutionState` from their store and execute the actions.
"""

from genesys.evolution.fitness import (
    Quadrant,
    Standing,
    combined_stderr,
    leaderboard,
    massey_ratings,
    training_spread,
)
from genesys.evolution.ladder import RungBudgetPlan, Usage, budget_usage, rung_budgets
from genesys.evolution.ordering import releasable, turn_rng
from genesys.evolution.planner import (
    closed_rungs,
    cost_cap_reached,
    design_stop,
    designer_unavailable,
    llm_spend,
    plan,
)
from genesys.evolution.selection import (
    choose_operation,
    repeat_candidates,
    select_parents,
    verification_candidates,
    verification_queue,
)
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
    "combined_stderr",
    "cost_cap_reached",
    "design_stop",
    "designer_unavailable",
    "leaderboard",
    "llm_spend",
    "massey_ratings",
    "plan",
    "releasable",
    "repeat_candidates",
    "rung_budgets",
    "select_parents",
    "training_spread",
    "turn_rng",
    "verification_candidates",
    "verification_name",
    "verification_queue",
]
