"""The planner: given the state of a run, which verifications and design sessions to start next.

    actions = plan(state, spec, random.Random(seed))   # [StartVerification..., StartDesignSession...] or [Complete]

A pure function, deterministic for a given rng state: runtimes execute the actions,
record what happens, and call it again whenever something changes.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace

from genesys.api.evolution import EvolutionSpec
from genesys.evolution.fitness import Standing, ranking
from genesys.evolution.ladder import RungBudgetPlan, Usage, budget_usage, release, rung_budgets
from genesys.evolution.outcomes import failed_stage
from genesys.evolution.selection import (
    ParentPools,
    candidates_of,
    pick_operation,
    pick_parents,
    queue_of,
    verification_candidates,
)
from genesys.evolution.state import (
    Action,
    Complete,
    EvolutionState,
    SessionRecord,
    StartDesignSession,
    StartVerification,
    verification_name,
)


def wall_time_over(state: EvolutionState, spec: EvolutionSpec) -> bool:
    """stop.maxWallHours: past it nothing new starts; the run completes once the running work ends."""
    return spec.stop.max_wall_hours is not None and state.elapsed_hours >= spec.stop.max_wall_hours


def llm_spend(state: EvolutionState) -> float:
    """US dollars the design sessions that finished have spent on LLM calls (running ones: not known yet)."""
    return sum(s.usd for s in state.sessions if s.phase != "running")


def designer_unavailable(state: EvolutionState) -> str | None:
    """Why the run must stop: a session found its LLM unusable (a missing or refused key, an unknown
    model, an endpoint that does not answer), so no later session would do better; else None."""
    for s in state.sessions:
        if s.phase == "failed" and failed_stage(s.reason) == "unavailable":
            return (f"the LLM designer cannot be used (design session {s.name} failed: {s.reason}); fix "
                    "designer.llm (model, apiBase, apiKeyEnv or the key's Secret) and start a new run")
    return None


def cost_cap_reached(state: EvolutionState, spec: EvolutionSpec) -> str | None:
    """designer.llm.evolutionCostCapUSD: once the finished sessions have spent it, no session starts."""
    llm = spec.designer.llm
    cap = llm.evolution_cost_cap_usd if llm is not None else None
    spent = llm_spend(state)
    if cap is None or spent < cap:
        return None
    return f"designer.llm.evolutionCostCapUSD reached (${spent:.2f} of ${cap:.2f} spent on LLM calls)"


def design_stop(state: EvolutionState, spec: EvolutionSpec) -> str | None:
    """Why a stop rule forbids new design sessions, or None.

    maxDesigns, maxFailedSessions and the LLM cost cap stop the designer only: the designs
    already made are still verified and promoted as far as the budgets allow. An unusable
    LLM stops everything (see `plan`).
    """
    stop = spec.stop
    if (unusable := designer_unavailable(state)) is not None:
        return unusable
    if wall_time_over(state, spec):
        return f"stop.maxWallHours reached ({state.elapsed_hours:g} of {stop.max_wall_hours:g} hours)"
    if (capped := cost_cap_reached(state, spec)) is not None:
        return capped
    failed = sum(s.phase == "failed" for s in state.sessions)
    if stop.max_failed_sessions is not None and failed >= stop.max_failed_sessions:
        return f"stop.maxFailedSessions reached ({failed} design sessions failed)"
    if stop.max_designs is not None and len(state.sessions) >= stop.max_designs:
        return f"stop.maxDesigns reached ({len(state.sessions)} design sessions started)"
    return None


def closed_rungs(
    state: EvolutionState,
    spec: EvolutionSpec,
    budgets: Sequence[RungBudgetPlan] | None = None,
    board: Sequence[Standing] | None = None,
) -> frozenset[str]:
    """Rungs that will never admit another verification: spent, or drained.

    Drained: nothing can arrive any more (the rung below is closed and has nothing running;
    for the lowest rung, no design session runs and a stop rule forbids new ones) and no
    candidate waits. A closed rung releases the rung above in full (see `budget_usage`), so
    stopping the designer early does not strand the budgets of the higher rungs.
    A rating change from a higher rung can, rarely, make a design good again and reopen a
    drained rung; the release above then shrinks back, which only delays new starts there.
    """
    budgets = rung_budgets(spec.ladder) if budgets is None else budgets
    pairs = verification_candidates(state, spec, board)
    running = Counter(r.rung for r in state.verifications if r.phase == "running")
    return _closed(state, budgets, budget_usage(state, budgets), pairs, running, design_stop(state, spec))


def _closed(
    state: EvolutionState,
    budgets: Sequence[RungBudgetPlan],
    usage: Mapping[str, Usage],
    pairs: Sequence[tuple[str, str]],
    running: Mapping[str, int],
    stopped: str | None,
) -> frozenset[str]:
    """`closed_rungs` from what the planner has counted already: candidates, running verifications, stop rule."""
    waiting = Counter(rung for _, rung in pairs)
    below_closed = stopped is not None
    below_running = sum(s.phase == "running" for s in state.sessions)
    closed = set()
    for budget in budgets:
        done = usage[budget.name].spent or (below_closed and below_running == 0 and waiting[budget.name] == 0)
        if done:
            closed.add(budget.name)
        below_closed, below_running = done, running.get(budget.name, 0)
    return frozenset(closed)


def _start_verifications(
    queue: Sequence[tuple[str, str, int]], usage: dict[str, Usage], slots: int
) -> list[StartVerification]:
    """The first `slots` of `queue` that the budgets admit; calibration repeats need device time only."""
    left = {rung: (u.remaining if u.admits else 0) for rung, u in usage.items()}
    started: list[StartVerification] = []
    for design, rung, repeat in queue:
        if len(started) >= slots:
            break
        if repeat > 0 and not usage[rung].device_spent:
            started.append(StartVerification(verification_name(design, rung, repeat), design, rung, repeat))
        elif repeat == 0 and left[rung] > 0:
            left[rung] -= 1
            started.append(StartVerification(verification_name(design, rung), design, rung))
    return started


def _session_slots(
    state: EvolutionState, spec: EvolutionSpec, lowest: Usage, started: Sequence[StartVerification]
) -> int:
    """How many design sessions may start now.

    A new design needs a run at the lowest rung, so sessions start only while that rung
    has room for every design still waiting for its first verification (running sessions
    included, as they will produce one) plus the new ones; and that backlog stays within
    `parallelism.verifications`, so designs are not made faster than they can be verified.
    """
    rungs = set(spec.ladder.rung_names())
    verified = {r.design for r in state.verifications if r.rung in rungs}
    first_runs = [a for a in started if a.rung == lowest.rung and a.repeat == 0]
    running = sum(s.phase == "running" for s in state.sessions)
    waiting = sum(d.name not in verified for d in state.designs) - len(first_runs) + running
    room = 0 if lowest.device_spent else lowest.remaining - len(first_runs)
    limits = [
        spec.parallelism.design_sessions - running,
        room - waiting,
        spec.parallelism.verifications - waiting,
    ]
    if spec.stop.max_designs is not None:
        limits.append(spec.stop.max_designs - len(state.sessions))
    return max(0, min(limits))


def _start_sessions(
    state: EvolutionState, spec: EvolutionSpec, rng: random.Random, pools: ParentPools, count: int
) -> list[StartDesignSession]:
    started = []
    for _ in range(count):  # `pools` holds for all: new sessions change neither the ranking nor the seeds
        operation = pick_operation(state, spec, rng, pools)
        parents = pick_parents(state, spec, rng, operation, pools)
        name = f"design-{len(state.sessions) + 1:04d}"
        started.append(StartDesignSession(name, operation, parents, seed=rng.randrange(2**31)))
        # the next choice sees this session: warm-up counting and names move on
        state = replace(state, sessions=(*state.sessions, SessionRecord(name, operation, parents, "running")))
    return started


def _completion_reason(state: EvolutionState, spec: EvolutionSpec, usage: dict[str, Usage]) -> str:
    stopped = design_stop(state, spec)
    if wall_time_over(state, spec) and stopped:
        return stopped
    if all(u.spent for u in usage.values()):
        return "every rung's budget is spent"
    if stopped:
        return f"{stopped}; every design made has been verified as far as the ladder admits"
    left = [u.rung for u in usage.values() if not u.spent]
    return (
        f"{next(iter(usage))} has no run left for a new design and no design qualifies for the runs left at "
        f"{', '.join(left)} (only good designs that passed the rung below are promoted)"
    )


def plan(state: EvolutionState, spec: EvolutionSpec, rng: random.Random) -> list[Action]:
    """The actions to take now: verifications first (most wanted first), then design sessions.

    Holds, for any state: no rung starts more runs than it has released (running ones
    count; calibration repeats of seeds take none); no design is verified twice at one rung
    (a repeat is not a second verification: it never enters the rating); at most `parallelism.verifications`
    verifications and `parallelism.design_sessions` sessions run at once; and
    `[Complete(reason)]` comes exactly when nothing runs and nothing more can start.
    A session that found its LLM unusable starts nothing more at all: once what runs has ended,
    `[Complete(reason, failed=True)]` ends the run with its reason.
    """
    busy_sessions = any(s.phase == "running" for s in state.sessions)
    if (unusable := designer_unavailable(state)) is not None:
        busy = busy_sessions or any(r.phase == "running" for r in state.verifications)
        return [] if busy else [Complete(unusable, failed=True)]
    budgets = rung_budgets(spec.ladder)
    ranked = ranking(state, spec)
    pairs = candidates_of(state, spec, ranked)
    running = Counter(r.rung for r in state.verifications if r.phase == "running")
    busy = running.total() > 0 or busy_sessions
    stopped = design_stop(state, spec)
    counted = budget_usage(state, budgets)
    usage = release(counted, budgets, _closed(state, budgets, counted, pairs, running, stopped))

    actions: list[Action] = []
    if not wall_time_over(state, spec):
        slots = spec.parallelism.verifications - running.total()
        verifications = _start_verifications(queue_of(state, spec, pairs), usage, slots)
        actions += verifications
        if stopped is None:
            count = _session_slots(state, spec, usage[budgets[0].name], verifications)
            actions += _start_sessions(state, spec, rng, ParentPools.of(state, ranked), count)
    if actions or busy:
        return actions
    return [Complete(_completion_reason(state, spec, usage))]
