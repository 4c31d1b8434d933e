"""The local run's SQLite state: records survive reopening, usage is derived, retries keep one row."""

from __future__ import annotations

import sqlite3

import pytest

from genesys.evolution.outcomes import VerificationSettlement as Settled
from genesys.local.store import SCHEMA_VERSION, RunDirError, RunStore


def test_records_round_trip_and_reopen(tmp_path):
    store = RunStore.open(tmp_path / "state.db")
    store.add_design("gpt2", "seed", (), 0)
    store.start_session("design-0001", "mutation", ("gpt2",), seed=7)
    store.finish_session("design-0001", True, title="GQA gpt2", order=1)
    store.start_session("design-0002", "scratch", (), seed=8)
    store.finish_session("design-0002", False, "no candidate passed")
    store.start_verification("gpt2-cpu-1", "gpt2", "cpu-1")
    store.finish_verification("gpt2-cpu-1", Settled("succeeded", fitness=0.5, scores={"a": 0.5},
                                                    baselines={"a": 0.25}, device_seconds=12.0,
                                                    summary={"params": 10}))
    store.close()

    store = RunStore.open(tmp_path / "state.db")
    state = store.state()
    assert [(d.name, d.operation, d.parents, d.order) for d in state.designs] == [
        ("gpt2", "seed", (), 0), ("design-0001", "mutation", ("gpt2",), 1)]
    assert [(s.name, s.phase) for s in state.sessions] == [("design-0001", "succeeded"), ("design-0002", "failed")]
    (v,) = state.verifications
    assert (v.phase, v.fitness, dict(v.scores), dict(v.baselines), v.device_seconds) == (
        "succeeded", 0.5, {"a": 0.5}, {"a": 0.25}, 12.0)
    assert store.designs()[1].title == "GQA gpt2"
    assert store.sessions()[1].reason == "no candidate passed"


def test_a_retried_verification_stays_one_record(tmp_path):
    store = RunStore.open(tmp_path / "state.db")
    store.start_verification("x-cpu-1", "x", "cpu-1")
    store.retry_verification("x-cpu-1")
    store.retry_verification("x-cpu-1")
    (row,) = store.verifications()
    assert (row.phase, row.attempts) == ("running", 3)
    with pytest.raises(sqlite3.IntegrityError):  # one design, one rung: one verification
        store.start_verification("other-name", "x", "cpu-1")
    store.finish_verification("x-cpu-1", Settled("failed", reason="preempted: interrupted 3 times", charged=False))
    store.finish_verification("x-cpu-1", Settled("succeeded", fitness=0.9))  # finishing twice changes nothing
    (row,) = store.verifications()
    assert (row.phase, row.fitness, row.reason) == ("failed", None, "preempted: interrupted 3 times")
    (record,) = store.state().verifications
    assert not record.charged  # the core's decision reaches the budget


def test_finishing_a_session_twice_adds_its_design_once(tmp_path):
    store = RunStore.open(tmp_path / "state.db")
    store.start_session("d1", "mutation", ("gpt2",), seed=1)
    store.finish_session("d1", True)
    store.finish_session("d1", True)
    assert [d.name for d in store.designs()] == ["d1"]


def test_a_failed_transaction_leaves_nothing(tmp_path):
    store = RunStore.open(tmp_path / "state.db")
    with pytest.raises(RuntimeError):
        with store.transaction() as db:
            store.add_design("a", "seed", (), 0, db=db)
            raise RuntimeError("crash mid-way")
    assert store.designs() == []


def test_a_newer_schema_is_refused_with_a_fix(tmp_path):
    store = RunStore.open(tmp_path / "state.db")
    store.set_meta("schema_version", "99")
    store.close()
    with pytest.raises(RunDirError, match="new --run-dir"):
        RunStore.open(tmp_path / "state.db")


def test_repeats_are_their_own_rows_and_reach_the_core_with_the_eval_stderr(tmp_path):
    store = RunStore.open(tmp_path / "state.db")
    store.start_verification("s-cpu-1", "s", "cpu-1")
    store.start_verification("s-cpu-1-r1", "s", "cpu-1", repeat=1)
    with pytest.raises(sqlite3.IntegrityError):  # one design, rung and repeat: one verification
        store.start_verification("other-name", "s", "cpu-1", repeat=1)
    store.finish_verification("s-cpu-1-r1", Settled("succeeded", fitness=0.4, summary={"fitness_stderr": 0.01}))
    store.close()
    state = RunStore.open(tmp_path / "state.db").state()
    assert [(v.name, v.repeat, v.fitness_stderr) for v in state.verifications] == [
        ("s-cpu-1", 0, None), ("s-cpu-1-r1", 1, 0.01)]


def test_a_run_dir_of_the_schema_before_repeats_is_refused(tmp_path):
    store = RunStore.open(tmp_path / "state.db")
    store.set_meta("schema_version", "1")
    store.close()
    with pytest.raises(RunDirError, match="state schema v1"):
        RunStore.open(tmp_path / "state.db")


def test_a_run_dir_of_schema_2_is_upgraded_in_place(tmp_path):
    db = sqlite3.connect(tmp_path / "state.db")
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE verifications (
            name TEXT PRIMARY KEY, design TEXT NOT NULL, rung TEXT NOT NULL, repeat INTEGER NOT NULL DEFAULT 0,
            phase TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, reason TEXT,
            fitness REAL, scores TEXT NOT NULL DEFAULT '{}', baselines TEXT NOT NULL DEFAULT '{}',
            device_seconds REAL NOT NULL DEFAULT 0, summary TEXT NOT NULL DEFAULT '{}',
            started_at REAL NOT NULL, finished_at REAL, UNIQUE (design, rung, repeat));
        INSERT INTO meta VALUES ('schema_version', '2');
        INSERT INTO verifications (name, design, rung, phase, started_at) VALUES ('g-cpu-1', 'g', 'cpu-1', 'failed', 1);
    """)
    db.close()
    store = RunStore.open(tmp_path / "state.db")
    assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
    (record,) = store.state().verifications
    assert record.charged  # every verification of an older run was charged


def test_a_run_dir_of_schema_3_keeps_its_sessions_and_gains_their_spend(tmp_path):
    db = sqlite3.connect(tmp_path / "state.db")
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE sessions (
            name TEXT PRIMARY KEY, operation TEXT NOT NULL, parents TEXT NOT NULL, seed INTEGER NOT NULL,
            phase TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, reason TEXT,
            started_at REAL NOT NULL, finished_at REAL);
        INSERT INTO meta VALUES ('schema_version', '3');
        INSERT INTO sessions (name, operation, parents, seed, phase, reason, started_at)
            VALUES ('design-0001', 'mutation', '["g"]', 1, 'failed', 'check: none passed', 1);
    """)
    db.close()
    store = RunStore.open(tmp_path / "state.db")
    assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
    (session,) = store.state().sessions
    assert (session.usd, session.reason) == (0.0, "check: none passed")
    store.start_session("design-0002", "mutation", ("g",), 2)
    store.finish_session("design-0002", False, "unavailable: API key missing", usd=0.03)
    assert [(s.usd, s.reason) for s in store.state().sessions][1] == (0.03, "unavailable: API key missing")
