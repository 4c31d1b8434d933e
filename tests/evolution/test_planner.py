"""The planner: unit cases, and simulated runs whose invariants are checked after every step."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genesys.api.evolution import EvolutionSpec
from genesys.evolution import (
    Complete,
    DesignRecord,
    EvolutionState,
    SessionRecord,
    StartDesignSession,
    StartVerification,
    VerificationRecord,
    budget_usage,
    closed_rungs,
    cost_cap_reached,
    design_stop,
    designer_unavailable,
    llm_spend,
    plan,
    rung_budgets,
    verification_candidates,
    verification_name,
)

TASKS = ("x", "y", "z")


def spec_of(**fields) -> EvolutionSpec:
    return EvolutionSpec.model_validate({"seeds": ["s1", "s2"], **fields})


def llm_designer(cap: float | None = None) -> dict:
    llm: dict = {"roles": {"default": {"models": [{"model": "openai/m"}]}}}
    if cap is not None:
        llm["evolutionCostCapUSD"] = cap
    return {"kind": "llm", "llm": llm}


def seeds(*names: str) -> tuple[DesignRecord, ...]:
    return tuple(DesignRecord(n, "seed", order=i) for i, n in enumerate(names))


@dataclass
class FakeRuntime:
    """Executes actions and finishes running work at random, as a runtime would.

    A preempted verification is retried by the runtime while its record stays running;
    one it gives up on ends failed with charged=False. Sessions and verifications finish
    at least one per step, so every simulated run ends.
    """

    rng: random.Random
    designs: list[DesignRecord]
    sessions: dict[str, SessionRecord] = field(default_factory=dict)
    verifications: dict[str, VerificationRecord] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)
    hours: float = 0.0
    llm: bool = False  # an LLM designer: sessions spend dollars, and a few find the LLM unusable

    def state(self) -> EvolutionState:
        sessions, verifications = tuple(self.sessions.values()), tuple(self.verifications.values())
        return EvolutionState(tuple(self.designs), sessions, verifications, self.hours)

    def execute(self, actions) -> None:
        for a in actions:
            if isinstance(a, StartDesignSession):
                assert a.name not in self.sessions
                self.sessions[a.name] = SessionRecord(a.name, a.operation, a.parents, "running")
            elif isinstance(a, StartVerification):
                assert a.name not in self.verifications
                self.verifications[a.name] = VerificationRecord(a.name, a.design, a.rung, "running", repeat=a.repeat)

    def advance(self) -> None:
        self.hours += 0.05
        running = [("s", n) for n, s in self.sessions.items() if s.phase == "running"]
        running += [("v", n) for n, v in self.verifications.items() if v.phase == "running"]
        if not running:
            return
        finishing = [w for w in running if self.rng.random() < 0.5] or [self.rng.choice(running)]
        for kind, name in finishing:
            self._finish_session(name) if kind == "s" else self._finish_verification(name)

    def _finish_session(self, name: str) -> None:
        session = self.sessions[name]
        ok = self.rng.random() < 0.75
        usd = self.rng.uniform(0.0, 0.4) if self.llm else 0.0
        stage = "unavailable" if self.llm and self.rng.random() < 0.03 else "check"
        self.sessions[name] = replace(session, phase="succeeded" if ok else "failed", usd=usd,
                                      reason=None if ok else f"{stage}: no luck")
        if ok:
            self.designs.append(DesignRecord(name, session.operation, session.parents, order=len(self.designs)))
            parents = [self.quality.get(p, 0.5) for p in session.parents] or [0.5]
            self.quality[name] = sum(parents) / len(parents) + self.rng.gauss(0, 0.1)

    def _finish_verification(self, name: str) -> None:
        record = self.verifications[name]
        roll = self.rng.random()
        if roll < 0.1:
            self.verifications[name] = replace(record, phase="failed", device_seconds=60.0)
        elif roll < 0.2:
            self.verifications[name] = replace(record, phase="failed", charged=False, device_seconds=30.0)
        elif roll < 0.3:
            return  # preempted and retried: still running
        else:
            q = self.quality.setdefault(record.design, self.rng.random())
            scores = {t: q * 0.5 + self.rng.gauss(0, 0.05) for t in TASKS}
            self.verifications[name] = replace(
                record,
                phase="succeeded",
                scores=scores,
                baselines={t: 0.25 for t in TASKS},
                device_seconds=self.rng.uniform(100, 1500),
                fitness_stderr=0.02,
            )


def check_step(state: EvolutionState, spec: EvolutionSpec, actions, rng_seed: int) -> None:
    """Invariants of one plan call, checked against the state it saw."""
    assert plan(state, spec, random.Random(rng_seed)) == actions, "plan is not deterministic"
    running_v = sum(r.phase == "running" for r in state.verifications)
    running_s = sum(s.phase == "running" for s in state.sessions)
    if any(isinstance(a, Complete) for a in actions):
        assert len(actions) == 1 and running_v == running_s == 0
        assert actions[0].failed == (designer_unavailable(state) is not None)
        return
    if designer_unavailable(state) is not None:
        assert not actions, "a session found the LLM unusable: nothing more starts"
    assert actions or running_v or running_s, "nothing runs and nothing starts: Complete was due"

    budgets = rung_budgets(spec.ladder)
    usage = budget_usage(state, budgets, closed_rungs(state, spec))
    all_starts = [a for a in actions if isinstance(a, StartVerification)]
    starts = [a for a in all_starts if a.repeat == 0]
    for rung, count in Counter(a.rung for a in starts).items():
        assert count <= usage[rung].remaining and usage[rung].admits, f"{rung} over its released budget"
    lowest = spec.ladder.rung_names()[0]
    seeds = {d.name for d in state.designs if d.operation == "seed"}
    for a in all_starts:
        if a.repeat:  # calibration: a seed at the lowest rung, after its first run succeeded
            assert a.design in seeds and a.rung == lowest and 0 < a.repeat < spec.ladder.seed_repeats
            assert not usage[lowest].device_spent
            assert any(r.design == a.design and r.rung == lowest and r.repeat == 0 and r.phase == "succeeded"
                       for r in state.verifications)
    runs = {(r.design, r.rung, r.repeat) for r in state.verifications}
    for a in all_starts:
        assert a.name == verification_name(a.design, a.rung, a.repeat)
        assert (a.design, a.rung, a.repeat) not in runs, "a second verification of one design at one rung"
        runs.add((a.design, a.rung, a.repeat))
    for a in starts:
        index = spec.ladder.rung_names().index(a.rung)
        if index:  # promoted only after passing the rung below, with nothing failed
            mine = {r.rung: r.phase for r in state.verifications if r.design == a.design and r.repeat == 0}
            assert mine.get(spec.ladder.rung_names()[index - 1]) == "succeeded"
            assert set(mine.values()) == {"succeeded"}
    sessions = [a for a in actions if isinstance(a, StartDesignSession)]
    assert running_v + len(all_starts) <= spec.parallelism.verifications
    assert running_s + len(sessions) <= spec.parallelism.design_sessions
    for i, a in enumerate(sessions):
        assert a.name == f"design-{len(state.sessions) + 1 + i:04d}"
        assert design_stop(state, spec) is None
    if spec.stop.max_designs is not None:
        assert len(state.sessions) + len(sessions) <= spec.stop.max_designs
    if spec.stop.max_wall_hours is not None and state.elapsed_hours >= spec.stop.max_wall_hours:
        assert not actions


def check_totals(state: EvolutionState, spec: EvolutionSpec) -> None:
    """Invariants of every state a run passes through."""
    for u in budget_usage(state, rung_budgets(spec.ladder)).values():
        assert u.used + u.running <= u.runs, f"{u.rung} budget exceeded"
    runs = Counter((r.design, r.rung, r.repeat) for r in state.verifications)
    assert max(runs.values(), default=1) == 1
    assert sum(r.phase == "running" for r in state.verifications) <= spec.parallelism.verifications
    assert sum(s.phase == "running" for s in state.sessions) <= spec.parallelism.design_sessions


def simulate(spec: EvolutionSpec, sim_seed: int, max_steps: int = 600) -> tuple[EvolutionState, Complete]:
    runtime = FakeRuntime(random.Random(sim_seed), list(seeds("s1", "s2")), llm=spec.designer.kind == "llm")
    rng = random.Random(spec.seed)
    for _ in range(max_steps):
        state = runtime.state()
        rng_seed = rng.randrange(2**31)
        actions = plan(state, spec, random.Random(rng_seed))
        check_step(state, spec, actions, rng_seed)
        if actions and isinstance(actions[0], Complete):
            return state, actions[0]
        runtime.execute(actions)
        check_totals(runtime.state(), spec)
        runtime.advance()
        check_totals(runtime.state(), spec)
    raise AssertionError(f"no Complete within {max_steps} steps")


ladders = st.fixed_dictionaries(
    {
        "preset": st.none(),
        "rungs": st.integers(1, 3).flatmap(
            lambda n: st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "runs": st.integers(1, 8),
                        "deviceHours": st.sampled_from([0.2, 0.5, 2.0]),
                    },
                ),
                min_size=n,
                max_size=n,
            ).map(lambda rungs: [{"name": f"r{i}", **r} for i, r in enumerate(rungs)])
        ),
        "selectionRatio": st.sampled_from([0.25, 0.5, 1.0]),
        "topRuns": st.integers(1, 2),
        "gradualRelease": st.booleans(),
        "seedRepeats": st.integers(1, 3),
    }
)
specs = st.fixed_dictionaries(
    {
        "ladder": ladders,
        "parallelism": st.fixed_dictionaries(
            {"designSessions": st.integers(1, 3), "verifications": st.integers(1, 3)}
        ),
        "selection": st.fixed_dictionaries(
            {
                "warmupDesigns": st.integers(0, 3),
                "confidentRungs": st.integers(1, 3),
                "exploreProbability": st.sampled_from([0.0, 0.3, 1.0]),
                "restartProbability": st.sampled_from([0.0, 0.1]),
                "crossoverParents": st.integers(2, 3),
                "operations": st.sampled_from(
                    [{}, {"mutation": 1, "crossover": 1, "scratch": 1}, {"mutation": 0, "crossover": 1, "scratch": 0}]
                ),
            }
        ),
        "stop": st.fixed_dictionaries(
            {},
            optional={
                "maxDesigns": st.integers(0, 12),
                "maxFailedSessions": st.integers(0, 4),
                "maxWallHours": st.sampled_from([0.5, 2.0]),
            },
        ),
        "seed": st.integers(0, 1000),
    },
    optional={"designer": st.sampled_from([0.5, 2.0, None]).map(lambda cap: llm_designer(cap))},
)


@settings(max_examples=60, deadline=None)
@given(specs, st.integers(0, 2**16))
def test_simulated_runs_keep_every_invariant_and_complete(fields, sim_seed):
    spec = spec_of(**fields)
    state, done = simulate(spec, sim_seed)
    assert plan(state, spec, random.Random(0)) == [done]  # and it stays complete
    usage = budget_usage(state, rung_budgets(spec.ladder))
    if done.failed:
        assert designer_unavailable(state) is not None and done.reason == designer_unavailable(state)
        return
    if design_stop(state, spec) is None:
        assert usage[spec.ladder.rung_names()[0]].spent, f"completed ({done.reason}) with runs left for new designs"
    wall = spec.stop.max_wall_hours is not None and state.elapsed_hours >= spec.stop.max_wall_hours
    for design, rung in verification_candidates(state, spec):  # no budget stranded by gradual release
        assert wall or usage[rung].spent, f"completed ({done.reason}) while {design} could be verified at {rung}"


def test_the_paper_ladder_is_used_from_the_bottom_to_the_top():
    spec = spec_of(ladder={"preset": "paper"}, parallelism={"designSessions": 3, "verifications": 3})
    state, done = simulate(spec, sim_seed=5, max_steps=3000)
    usage = budget_usage(state, rung_budgets(spec.ladder))
    assert [(u.used, u.runs) for u in usage.values()] == [(256, 256), (64, 64), (16, 16), (4, 4), (1, 1)]
    assert done.reason == "every rung's budget is spent"


def test_first_plan_verifies_seeds_and_starts_sessions_with_fresh_names():
    spec = spec_of(parallelism={"designSessions": 2, "verifications": 2})
    state = EvolutionState(designs=seeds("s1", "s2"))
    actions = plan(state, spec, random.Random(0))
    assert actions[:2] == [StartVerification("s1-cpu-1", "s1", "cpu-1"), StartVerification("s2-cpu-1", "s2", "cpu-1")]
    assert [a.name for a in actions[2:]] == ["design-0001", "design-0002"]
    assert all(a.operation == "mutation" and a.parents[0] in {"s1", "s2"} for a in actions[2:])
    assert len({a.seed for a in actions[2:]}) == 2


def test_the_backlog_of_unverified_designs_stays_within_verification_parallelism():
    spec = spec_of(parallelism={"designSessions": 4, "verifications": 1})
    state = EvolutionState(designs=seeds("s1", "s2"))
    actions = plan(state, spec, random.Random(0))
    assert actions == [StartVerification("s1-cpu-1", "s1", "cpu-1")]  # s2 already waits: no design session


def test_no_design_session_without_room_at_the_lowest_rung():
    spec = spec_of(
        ladder={"preset": "cpu", "rungs": [{"name": "cpu-1", "runs": 3}, {"name": "cpu-2"}]},
        parallelism={"designSessions": 3, "verifications": 3},
    )
    state = EvolutionState(
        designs=seeds("s1", "s2"),
        verifications=(VerificationRecord("s1-cpu-1", "s1", "cpu-1", "running"),),
    )
    # 3 runs: s1 holds one, s2 takes one, so one design may still be made
    assert [type(a) for a in plan(state, spec, random.Random(0))] == [StartVerification, StartDesignSession]
    full = replace(state, sessions=(SessionRecord("design-0001", "mutation", ("s1",), "running"),))
    assert plan(full, spec, random.Random(0)) == [StartVerification("s2-cpu-1", "s2", "cpu-1")]


@pytest.mark.parametrize(
    ("stop", "sessions", "hours", "reason"),
    [
        ({"maxDesigns": 1}, [("design-0001", "failed")], 0.0, "stop.maxDesigns reached"),
        ({"maxFailedSessions": 1}, [("design-0001", "failed")], 0.0, "stop.maxFailedSessions reached"),
        ({"maxWallHours": 1.0}, [], 1.5, "stop.maxWallHours reached"),
    ],
)
def test_stop_rules_complete_once_nothing_runs(stop, sessions, hours, reason):
    spec = spec_of(stop=stop)
    records = tuple(SessionRecord(n, "mutation", ("s1",), phase) for n, phase in sessions)
    done = (
        VerificationRecord("s1-cpu-1", "s1", "cpu-1", "failed"),
        VerificationRecord("s2-cpu-1", "s2", "cpu-1", "failed"),
    )
    state = EvolutionState(designs=seeds("s1", "s2"), sessions=records, verifications=done, elapsed_hours=hours)
    [complete] = plan(state, spec, random.Random(0))
    assert isinstance(complete, Complete) and reason in complete.reason
    running = replace(state, verifications=(replace(done[0], phase="running"), done[1]))
    assert plan(running, spec, random.Random(0)) == []  # never Complete while something runs


def test_wall_hours_stop_new_verifications_too():
    spec = spec_of(stop={"maxWallHours": 1.0})
    state = EvolutionState(designs=seeds("s1", "s2"), elapsed_hours=1.0)
    assert "stop.maxWallHours" in plan(state, spec, random.Random(0))[0].reason


def test_spent_budgets_complete_the_run():
    spec = spec_of(ladder={"preset": "cpu", "rungs": [{"name": "cpu-1", "runs": 2}]})
    done = tuple(VerificationRecord(f"{s}-cpu-1", s, "cpu-1", "succeeded", {"x": 0.5}) for s in ("s1", "s2"))
    state = EvolutionState(designs=seeds("s1", "s2"), verifications=done)
    assert plan(state, spec, random.Random(0)) == [Complete("every rung's budget is spent")]


def test_a_stopped_designer_releases_the_rungs_above_in_full():
    spec = spec_of(stop={"maxDesigns": 0})  # cpu: 16, 4, 1; only the two seeds
    results = (
        VerificationRecord("s1-cpu-1", "s1", "cpu-1", "succeeded", {"x": 0.6}),
        VerificationRecord("s2-cpu-1", "s2", "cpu-1", "succeeded", {"x": 0.4}),
    )
    state = EvolutionState(designs=seeds("s1", "s2"), verifications=results)
    assert budget_usage(state, rung_budgets(spec.ladder))["cpu-2"].released == 0  # 4 * 2 // 16
    assert plan(state, spec, random.Random(0)) == [StartVerification("s1-cpu-2", "s1", "cpu-2")]


def test_seed_repeats_start_after_the_first_run_and_use_device_time_not_runs():
    spec = spec_of(
        ladder={"preset": "cpu", "rungs": [{"name": "cpu-1", "runs": 2}], "seedRepeats": 3},
        parallelism={"verifications": 3},
        stop={"maxDesigns": 0},
    )
    state = EvolutionState(designs=seeds("s1", "s2"))
    assert plan(state, spec, random.Random(0)) == [
        StartVerification("s1-cpu-1", "s1", "cpu-1"), StartVerification("s2-cpu-1", "s2", "cpu-1")]
    done = tuple(VerificationRecord(f"{s}-cpu-1", s, "cpu-1", "succeeded", {"x": 0.5}) for s in ("s1", "s2"))
    state = replace(state, verifications=done)
    assert budget_usage(state, rung_budgets(spec.ladder))["cpu-1"].spent  # both runs used: repeats still start
    assert plan(state, spec, random.Random(0)) == [
        StartVerification("s1-cpu-1-r1", "s1", "cpu-1", 1),
        StartVerification("s1-cpu-1-r2", "s1", "cpu-1", 2),
        StartVerification("s2-cpu-1-r1", "s2", "cpu-1", 1),
    ]
    repeats = tuple(VerificationRecord(f"{s}-cpu-1-r{k}", s, "cpu-1", "succeeded", {"x": 0.5}, device_seconds=9.0,
                                       repeat=k) for s in ("s1", "s2") for k in (1, 2))
    state = replace(state, verifications=done + repeats)
    assert plan(state, spec, random.Random(0)) == [Complete("every rung's budget is spent")]


def _sessions(*finished: tuple[str, float, str | None]) -> tuple[SessionRecord, ...]:
    """Finished sessions as (phase, usd, reason), named design-0001, ..."""
    return tuple(SessionRecord(f"design-{i:04d}", "mutation", ("s1",), phase, usd=usd, reason=reason)  # type: ignore[arg-type]
                 for i, (phase, usd, reason) in enumerate(finished, start=1))


def test_llm_spend_counts_finished_sessions_only():
    state = EvolutionState(designs=seeds("s1", "s2"), sessions=(
        *_sessions(("succeeded", 0.25, None), ("failed", 0.5, "check: no candidate passed")),
        SessionRecord("design-0003", "mutation", ("s1",), "running", usd=9.0)))
    assert llm_spend(state) == 0.75


def test_the_evolution_cost_cap_stops_new_sessions_and_names_itself_when_the_run_ends():
    spec = spec_of(designer=llm_designer(1.0), ladder={"preset": "cpu", "rungs": [{"name": "cpu-1", "runs": 8}]},
                   parallelism={"designSessions": 2, "verifications": 2})
    under = EvolutionState(designs=seeds("s1", "s2"), sessions=_sessions(("failed", 0.5, "check: none passed"),
                                                                         ("failed", 0.49, "check: none passed")))
    assert cost_cap_reached(under, spec) is None
    assert any(isinstance(a, StartDesignSession) for a in plan(under, spec, random.Random(0)))

    spent = replace(under, sessions=_sessions(("failed", 0.5, "check: none passed"),
                                              ("failed", 0.5, "check: none passed")))
    reason = cost_cap_reached(spent, spec)
    assert reason == "designer.llm.evolutionCostCapUSD reached ($1.00 of $1.00 spent on LLM calls)"
    assert design_stop(spent, spec) == reason
    actions = plan(spent, spec, random.Random(0))
    assert actions == [StartVerification("s1-cpu-1", "s1", "cpu-1"), StartVerification("s2-cpu-1", "s2", "cpu-1")]
    done = replace(spent, verifications=tuple(VerificationRecord(f"{s}-cpu-1", s, "cpu-1", "failed")
                                              for s in ("s1", "s2")))
    [complete] = plan(done, spec, random.Random(0))
    assert complete.reason.startswith(reason) and not complete.failed


def test_without_a_cap_or_with_a_gp_designer_spend_stops_nothing():
    sessions = _sessions(("failed", 5.0, "check: none passed"))
    state = EvolutionState(designs=seeds("s1", "s2"), sessions=sessions)
    for spec in (spec_of(designer=llm_designer(None)), spec_of()):
        assert cost_cap_reached(state, spec) is None and design_stop(state, spec) is None


def test_an_unusable_llm_starts_nothing_more_and_fails_the_run_once_nothing_runs():
    spec = spec_of(designer=llm_designer(), parallelism={"designSessions": 2, "verifications": 2})
    why = "unavailable: authentication failed (openai/m refused the key in OPENAI_API_KEY)"
    running = (VerificationRecord("s1-cpu-1", "s1", "cpu-1", "running"),)
    state = EvolutionState(designs=seeds("s1", "s2"), sessions=_sessions(("failed", 0.0, why)),
                           verifications=running)
    assert plan(state, spec, random.Random(0)) == []  # s2 waits unverified: nothing new starts
    ended = replace(state, verifications=(replace(running[0], phase="succeeded", scores={"x": 0.5}),))
    [complete] = plan(ended, spec, random.Random(0))
    assert complete.failed and "design session design-0001 failed: " + why in complete.reason
    assert "fix designer.llm" in complete.reason
    assert design_stop(ended, spec) == complete.reason


def test_other_session_failures_do_not_stop_the_run():
    spec = spec_of(designer=llm_designer(), parallelism={"designSessions": 2, "verifications": 2})
    for reason in ("budget: the session cost cap was reached", "proposal: no proposal passed review",
                   "exited with code 1 without writing outcome.json", None):
        state = EvolutionState(designs=seeds("s1", "s2"), sessions=_sessions(("failed", 0.1, reason)))
        assert designer_unavailable(state) is None
        assert any(isinstance(a, StartDesignSession) for a in plan(state, spec, random.Random(0)))
