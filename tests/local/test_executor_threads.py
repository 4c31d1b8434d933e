"""The local executor shares the cores between running verifications and re-shares them as they come and go."""

from __future__ import annotations

import sys

import pytest

from genesys.api.threads import fair_shares, thread_env
from genesys.local.executor import Executor


def test_fair_shares_split_cores_between_jobs_then_processes():
    assert fair_shares(2, []) == []
    assert fair_shares(2, [1]) == [2]
    assert fair_shares(2, [1, 1]) == [1, 1]
    assert fair_shares(2, [1, 1, 1]) == [1, 1, 1]  # never zero: oversubscribed rather than stalled
    assert fair_shares(8, [1, 1, 1]) == [3, 3, 2]  # the oldest take the remainder
    assert fair_shares(8, [2, 1]) == [2, 4]  # a two-process job splits its half


def test_thread_env_pins_every_pool_and_refuses_zero(tmp_path):
    env = thread_env(3, tmp_path / "x.threads")
    assert env["GENESYS_THREADS"] == env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    assert env["MKL_CBWR"] == "AVX2,STRICT" and env["GENESYS_THREADS_FILE"].endswith("x.threads")
    with pytest.raises(ValueError, match="at least 1"):
        thread_env(0)


def _start(executor: Executor, kind: str, name: str, tmp_path):
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    return executor._start(kind, name, sleeper, tmp_path / f"{name}.log")


def _threads(child) -> int:
    return int(child.threads_file.read_text())


def test_a_verification_alone_takes_every_core_and_shares_them_when_another_starts(tmp_path):
    executor = Executor(cores=2, control_dir=tmp_path / "threads")
    try:
        first = _start(executor, "verification", "a", tmp_path)
        assert _threads(first) == 2 and first.process.args  # alone: both cores
        session = _start(executor, "session", "s", tmp_path)
        assert session.threads == 1 and session.threads_file is None and _threads(first) == 2
        second = _start(executor, "verification", "b", tmp_path)
        assert (_threads(first), _threads(second)) == (1, 1)
        second.process.kill()
        second.process.wait()
        assert [f.name for f in executor.poll()] == ["b"]
        assert _threads(first) == 2  # the survivor takes the freed core
        assert not second.threads_file.exists()
    finally:
        executor.stop_all(grace_seconds=5)


def test_fixed_threads_per_process_are_never_reshared(tmp_path):
    executor = Executor(cores=2, control_dir=tmp_path / "threads", threads_per_process=1)
    try:
        a = _start(executor, "verification", "a", tmp_path)
        assert a.threads == 1 and a.threads_file is None
        assert not (tmp_path / "threads").exists()
    finally:
        executor.stop_all(grace_seconds=5)
