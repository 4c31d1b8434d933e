"""The runner's bookkeeping without real children: outcomes on disk -> records, lost children -> restarts."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from genesys.api import storage
from genesys.api.results import VerificationResult
from genesys.evolution import StartVerification
from genesys.local.executor import Finished
from genesys.local.runner import Runner, RunOptions, prepare_run

EVOLUTION = """\
apiVersion: genesys.dev/v1alpha1
kind: Evolution
metadata: {name: demo}
spec:
  seeds: [gpt2]
  ladder: {preset: cpu, rungs: [{name: cpu-1, runs: 4}]}
"""


@pytest.fixture()
def runner(tmp_path, monkeypatch) -> Runner:
    (tmp_path / "evo.yaml").write_text(EVOLUTION)
    run = prepare_run(tmp_path / "evo.yaml", tmp_path / "run")
    runner = Runner(run, RunOptions(max_attempts=2), on_turn=lambda snapshot, executor: None)
    runner.started_children = []
    monkeypatch.setattr(runner, "_start_session",
                        lambda name, attempt: runner.started_children.append(("session", name, attempt)))
    monkeypatch.setattr(runner, "_start_verification",
                        lambda action, attempt: runner.started_children.append(("verify", action, attempt)))
    yield runner
    run.store.close()


def _finished(kind: str, name: str, code: int) -> Finished:
    return Finished(kind, name, code, Path("/tmp/log"))


def _write_result(runner: Runner, name: str, result: VerificationResult) -> None:
    storage.write_text(runner.run.artifacts.layout.result_file(name), result.to_json())


def test_a_child_that_exits_without_a_result_fails_with_the_reason(runner):
    store = runner.run.store
    store.start_verification("gpt2-cpu-1", "gpt2", "cpu-1")
    runner._settle_verification("gpt2-cpu-1", _finished("verification", "gpt2-cpu-1", 1))
    (row,) = store.verifications()
    assert row.phase == "failed" and row.reason.startswith("no_result: exited with code 1")
    store.start_session("design-0001", "mutation", ("gpt2",), 5)
    runner._settle_session("design-0001", _finished("session", "design-0001", 2))
    (session,) = store.sessions()
    assert session.phase == "failed" and "without writing outcome.json" in session.reason
    assert runner.started_children == []


def test_lost_children_restart_under_their_name_until_max_attempts(runner, make_result):
    store = runner.run.store
    store.start_verification("gpt2-cpu-1", "gpt2", "cpu-1")
    _write_result(runner, "gpt2-cpu-1", make_result("gpt2", status="interrupted", reason="preempted"))
    runner._settle_verification("gpt2-cpu-1", _finished("verification", "gpt2-cpu-1", 3))
    assert runner.started_children == [("verify", StartVerification("gpt2-cpu-1", "gpt2", "cpu-1", 0), 2)]
    assert [(v.phase, v.attempts) for v in store.verifications()] == [("running", 2)]
    runner.recover()  # the runner died again: this time max_attempts is reached
    assert [(v.phase, v.attempts) for v in store.verifications()] == [("failed", 2)]
    assert "preempted" in store.verifications()[0].reason and not store.state().verifications[0].charged

    store.start_session("design-0001", "mutation", ("gpt2",), 5)
    runner._settle_session("design-0001", _finished("session", "design-0001", -signal.SIGTERM))
    assert runner.started_children[-1] == ("session", "design-0001", 2)
    assert store.sessions()[0].attempts == 2


def test_results_found_on_disk_at_recovery_are_recorded_once(runner, make_result):
    store = runner.run.store
    store.start_verification("gpt2-cpu-1", "gpt2", "cpu-1")
    _write_result(runner, "gpt2-cpu-1", make_result("gpt2", fitness=0.4, device_seconds=7.0, eval_seconds=2.0))
    runner.recover()
    runner.recover()
    (row,) = store.verifications()
    assert (row.phase, row.fitness, row.attempts, row.device_seconds) == ("succeeded", 0.4, 1, 9.0)
    assert runner.started_children == []


def test_a_turn_starts_what_plan_asks_and_records_it_first(runner):
    assert runner.turn() is None
    assert [v.name for v in runner.run.store.verifications()] == ["gpt2-cpu-1"]
    assert runner.started_children[0] == ("verify", StartVerification("gpt2-cpu-1", "gpt2", "cpu-1", 0), 1)


def test_a_lost_repeat_restarts_as_the_same_repeat(runner):
    store = runner.run.store
    store.start_verification("gpt2-cpu-1-r2", "gpt2", "cpu-1", repeat=2)
    runner._settle_verification("gpt2-cpu-1-r2", _finished("verification", "gpt2-cpu-1-r2", -signal.SIGKILL))
    assert runner.started_children == [("verify", StartVerification("gpt2-cpu-1-r2", "gpt2", "cpu-1", 2), 2)]


def test_a_repeat_trains_with_the_evolution_seed_plus_its_repeat(tmp_path, monkeypatch):
    from genesys.api import VerificationJob, load_manifest

    (tmp_path / "evo.yaml").write_text(EVOLUTION + "  seed: 40\n")
    run = prepare_run(tmp_path / "evo.yaml", tmp_path / "run")
    runner = Runner(run, RunOptions(), on_turn=lambda snapshot, executor: None)
    jobs = []
    monkeypatch.setattr(runner.executor, "start_verification", lambda **kw: jobs.append(kw["job_file"]))
    runner._start_verification(StartVerification("gpt2-cpu-1", "gpt2", "cpu-1", 0), attempt=1)
    runner._start_verification(StartVerification("gpt2-cpu-1-r2", "gpt2", "cpu-1", 2), attempt=3)
    specs = [load_manifest(job, VerificationJob).spec for job in jobs]
    assert [(s.seed, s.attempt, s.check) for s in specs] == [(40, 1, True), (42, 3, True)]
    run.store.close()


class _FakeExecutor:
    """Hands the runner children that 'finished' in an order the test chooses."""

    def __init__(self):
        self.done: list[Finished] = []

    def poll(self) -> list[Finished]:
        done, self.done = self.done, []
        return done

    def stop_all(self) -> None:
        pass


def _succeed(runner: Runner, name: str, fitness: float, make_result) -> None:
    _write_result(runner, name, make_result(name.removesuffix("-cpu-1"), fitness=fitness, scores={"a": fitness},
                                            baselines={"a": 0.1}, device_seconds=1.0))


def test_outcomes_are_recorded_in_start_order_whatever_order_children_finish(tmp_path, monkeypatch, make_result):
    """A child that finishes before its elder waits, so plan sees the same states in every run."""
    (tmp_path / "evo.yaml").write_text(EVOLUTION.replace("seeds: [gpt2]", "seeds: [gpt2, retnet]")
                                       + "  parallelism: {verifications: 2}\n")
    run = prepare_run(tmp_path / "evo.yaml", tmp_path / "run")
    runner = Runner(run, RunOptions(), on_turn=lambda snapshot, executor: None)
    runner.executor = _FakeExecutor()
    monkeypatch.setattr(runner, "_start_session", lambda *a, **kw: None)
    monkeypatch.setattr(runner, "_start_verification", lambda *a, **kw: None)
    runner.turn()
    assert runner.started_order[:2] == [("verification", "gpt2-cpu-1"), ("verification", "retnet-cpu-1")]
    store = run.store

    _succeed(runner, "retnet-cpu-1", 0.3, make_result)  # the younger finishes first: held back
    runner.executor.done = [_finished("verification", "retnet-cpu-1", 0)]
    runner.turn()
    assert {v.name: v.phase for v in store.verifications()}["retnet-cpu-1"] == "running"

    _succeed(runner, "gpt2-cpu-1", 0.4, make_result)
    runner.executor.done = [_finished("verification", "gpt2-cpu-1", 0)]
    runner.turn()  # now both, elder first
    phases = {v.name: v.phase for v in store.verifications()}
    assert phases["gpt2-cpu-1"] == phases["retnet-cpu-1"] == "succeeded"
    finished_at = {v.name: v.finished_at for v in store.verifications()}
    assert finished_at["gpt2-cpu-1"] <= finished_at["retnet-cpu-1"]
    assert ("verification", "gpt2-cpu-1") not in runner.started_order
    run.store.close()
