"""Custom resources -> EvolutionState: each record read back as written, and a whole run through the cluster's objects.

The round trip: plan -> build the CRs of its actions -> give them statuses as the handlers
would -> rebuild the state -> it equals the state the local runtime would keep, and plan
never starts anything twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from genesys.api.seed_library import load_seed
from genesys.evolution import (
    Complete,
    DesignRecord,
    EvolutionState,
    SessionRecord,
    StartDesignSession,
    StartVerification,
    VerificationRecord,
    plan,
    turn_rng,
)
from genesys.evolution.outcomes import next_design_order
from genesys.operator.builders import build_design, build_seed_design, build_verification_job
from genesys.operator.state import evolution_state

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
QUICK = {"seeds": ["gpt2", "retnet"],
         "ladder": {"preset": "cpu", "seedRepeats": 2, "rungs": [{"name": "cpu-1", "runs": 6},
                                                                 {"name": "cpu-2", "runs": 2}]},
         "selection": {"warmupDesigns": 1},
         "parallelism": {"designSessions": 1, "verifications": 2},
         "stop": {"maxDesigns": 4}}


def _created(obj: dict, with_status: bool = True) -> dict:
    """As listed after the handler created it (and, `with_status`, patched its status)."""
    out = {**obj, "metadata": {**obj["metadata"], "uid": f"uid-{obj['metadata']['name']}"}}
    if not with_status:
        out.pop("status", None)
    return out


def _fitness(name: str) -> float:
    return int(hashlib.sha256(name.encode()).hexdigest()[:6], 16) / 0xFFFFFF


class Cluster:
    """The API server's objects of one Evolution, and the state a local runtime would keep beside them."""

    def __init__(self, evolution, config):
        self.evolution, self.config = evolution, config
        self.designs: dict[str, dict] = {}
        self.vjs: dict[str, dict] = {}
        self.expected = EvolutionState()
        self.started: list[str] = []  # running children, oldest first
        for order, name in enumerate(evolution.spec.seeds):
            seed = _created(build_seed_design(evolution, load_seed(name), order, config))
            self.designs[name] = seed
            self.expected = replace(self.expected, designs=(*self.expected.designs, DesignRecord(name, "seed",
                                                                                                  order=order)))

    def state(self) -> EvolutionState:
        return evolution_state(list(self.designs.values()), list(self.vjs.values()), NOW)

    def start(self, actions) -> None:
        state = self.expected
        start = len(state.sessions) + len(state.verifications)
        for index, action in enumerate(actions):
            if isinstance(action, StartDesignSession):
                obj = build_design(self.evolution, action, self.config, start=start + index)
                self.designs[action.name] = _created(obj, with_status=index % 2 == 0)  # the crash window too
                record = SessionRecord(action.name, action.operation, action.parents, "running")
                state = replace(state, sessions=(*state.sessions, record))
            else:
                obj = build_verification_job(self.evolution, action, self.designs[action.design], self.config,
                                             checked=True, start=start + index)
                self.vjs[action.name] = _created(obj)
                record = VerificationRecord(action.name, action.design, action.rung, "running", repeat=action.repeat)
                state = replace(state, verifications=(*state.verifications, record))
            self.started.append(action.name)
        self.expected = state

    def finish_oldest(self) -> None:
        """The oldest running child ends: every third session fails, verifications succeed."""
        name = self.started.pop(0)
        state = self.expected
        if name in self.vjs:
            fitness = _fitness(name)
            self.vjs[name]["status"] = {"phase": "Succeeded", "fitness": fitness, "fitnessStderr": 0.01,
                                        "scores": {"bpb": fitness}, "baselines": {"bpb": 0.1},
                                        "deviceSeconds": 60.0, "charged": True, "attempts": 1}
            done = [replace(r, phase="succeeded", fitness=fitness, fitness_stderr=0.01, scores={"bpb": fitness},
                            baselines={"bpb": 0.1}, device_seconds=60.0) if r.name == name else r
                    for r in state.verifications]
            self.expected = replace(state, verifications=tuple(done))
            return
        design = self.designs[name]
        failed = int(name.rsplit("-", 1)[1]) % 3 == 0
        usd = int(name.rsplit("-", 1)[1]) / 100  # an LLM designer's spend, failed sessions included
        reason = "check: no candidate passed" if failed else None
        if failed:
            design["status"] = {"phase": "Failed", "failure": "SessionFailed", "reason": reason, "sessionUsd": usd}
        else:
            design["spec"]["tree"] = load_seed("gpt2").spec.tree.model_dump(mode="json")
            design["status"] = {"phase": "Implemented", "order": next_design_order(state), "sessionUsd": usd}
        session = next(s for s in state.sessions if s.name == name)
        sessions = tuple(replace(s, phase="failed" if failed else "succeeded", usd=usd, reason=reason)
                         if s.name == name else s for s in state.sessions)
        designs = state.designs if failed else (*state.designs, DesignRecord(name, session.operation,
                                                                             session.parents, len(state.designs)))
        self.expected = replace(state, sessions=sessions, designs=designs)


def test_a_whole_run_round_trips_through_the_custom_resources(make_evolution, config):
    evolution = make_evolution(QUICK)
    cluster = Cluster(evolution, config)
    seen: set[str] = set()
    for _ in range(200):
        state = cluster.state()
        assert state == cluster.expected
        actions = plan(state, evolution.spec, turn_rng(evolution.spec.seed, state))
        if any(isinstance(a, Complete) for a in actions):
            assert len(actions) == 1 and not cluster.started
            break
        names = [a.name for a in actions]
        assert not set(names) & seen, "plan started something twice"
        seen |= set(names)
        cluster.start(actions)
        again = cluster.state()
        assert again == cluster.expected  # plan sees what it decided ...
        rerun = plan(again, evolution.spec, turn_rng(evolution.spec.seed, again))
        assert not {a.name for a in rerun if not isinstance(a, Complete)} & seen  # ... and does not repeat it
        if cluster.started:
            cluster.finish_oldest()
    else:
        pytest.fail("the run did not complete")
    final = cluster.state()
    assert {r.repeat for r in final.verifications} == {0, 1}  # calibration repeats came back as repeats
    assert any(s.phase == "failed" for s in final.sessions) and len(final.sessions) == 4
    assert all(r.phase == "succeeded" for r in final.verifications)


def test_records_read_back_as_written(make_evolution, config):
    evolution = make_evolution(QUICK)
    seed = _created(build_seed_design(evolution, load_seed("gpt2"), 0, config))
    lost = _created(build_verification_job(evolution, StartVerification("gpt2-cpu-1", "gpt2", "cpu-1"), seed,
                                           config, checked=True, start=1))
    lost["status"] = {"phase": "Failed", "charged": False, "reason": "preempted: interrupted 3 times"}
    fresh = _created(build_verification_job(evolution, StartVerification("gpt2-cpu-1-r1", "gpt2", "cpu-1", 1),
                                            seed, config, checked=True, start=0), with_status=False)
    session = _created(build_design(evolution, StartDesignSession("design-0001", "mutation", ("gpt2",), 5), config,
                                    start=2))
    session["spec"]["tree"] = seed["spec"]["tree"]  # the outcome half-recorded: still running
    state = evolution_state([session, seed], [lost, fresh], NOW, started=NOW - timedelta(minutes=90))
    assert state.designs == (DesignRecord("gpt2", "seed", order=0),)
    assert state.sessions == (SessionRecord("design-0001", "mutation", ("gpt2",), "running"),)
    assert state.verifications == (
        VerificationRecord("gpt2-cpu-1-r1", "gpt2", "cpu-1", "running", repeat=1),  # no status yet: reserved
        VerificationRecord("gpt2-cpu-1", "gpt2", "cpu-1", "failed", charged=False),
    )
    assert state.elapsed_hours == 1.5


def test_a_seed_without_its_order_is_not_in_the_population_yet(make_evolution, config):
    evolution = make_evolution(QUICK)
    seed = _created(build_seed_design(evolution, load_seed("gpt2"), 0, config), with_status=False)
    assert evolution_state([seed], [], NOW) == EvolutionState()


def test_a_failed_verification_leaves_a_failed_design_in_the_population(make_evolution, config):
    evolution = make_evolution(QUICK)
    design = _created(build_design(evolution, StartDesignSession("design-0002", "scratch", (), 5), config, start=0))
    design["status"] = {"phase": "Failed", "failure": "VerificationFailed", "order": 2}
    state = evolution_state([design], [], NOW)
    assert state.sessions[0].phase == "succeeded" and state.designs == (DesignRecord("design-0002", "scratch", (), 2),)
