"""`genesys run` end to end on examples/evolution-quick.yaml (the CI smoke test), and crash-safe resume.

The uninterrupted reference run is the session fixture `quick_run` (tests/conftest.py); a
second run of the same spec and seed, on an S3 store, is compared with it in test_s3_store.py.
The interrupted run is killed twice (kill -9, then SIGTERM) while children work; run
again, it must end with the same records and budget use as the uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from genesys.cli.main import app
from quick_runs import QUICK, designs_json, records


def _genesys(*args: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "genesys.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(run_dir: Path, finished: int, timeout: float = 600) -> None:
    """Until `finished` verifications are done and another one runs."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (run_dir / "state.db").exists():
            try:
                db = sqlite3.connect(run_dir / "state.db")
                phases = [r[0] for r in db.execute("SELECT phase FROM verifications")]
                db.close()
            except sqlite3.OperationalError:
                phases = []
            if sum(p != "running" for p in phases) >= finished and "running" in phases:
                return
        time.sleep(0.5)
    raise AssertionError(f"the run did not reach {finished} finished verifications in {timeout} s")


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_quick_evolution_completes_and_can_be_inspected(quick_run):
    counts = records(quick_run)
    assert counts["designs"] == 4  # 2 seeds + stop.maxDesigns 2
    assert counts["used"] == {"cpu-1": 4, "cpu-2": 1}
    assert counts["verifications"] == [("cpu-1", "succeeded", 4), ("cpu-2", "succeeded", 1)]
    runner = CliRunner()
    listed = runner.invoke(app, ["designs", "--run-dir", str(quick_run), "--json"])
    assert listed.exit_code == 0, listed.output
    designs = json.loads(listed.output)
    assert {"name", "phase", "operation", "parents", "fitness", "rungs"} <= set(designs[0])
    discovered = [d for d in designs if d["operation"] != "seed"]
    assert discovered and all(d["parents"] and d["fitness"].get("cpu-1") is not None for d in discovered)
    best = designs[0]["name"]
    for args in (["status"], ["show", discovered[0]["name"]], ["tree"], ["report"], ["designs", "--top", "2"]):
        result = runner.invoke(app, [*args, "--run-dir", str(quick_run)], terminal_width=200)
        assert result.exit_code == 0, (args, result.output)
    assert best in (quick_run / "report.html").read_text()
    assert (quick_run / "tree.svg").read_text().startswith("<svg")


def test_killed_runs_resume_to_the_same_records(quick_run, tmp_path):
    run_dir = tmp_path / "run"
    args = ["run", str(QUICK), "--run-dir", str(run_dir), "--quiet", "--metrics-port", "-1"]

    runner = _genesys(*args)
    _wait_for(run_dir, finished=1)
    children = _children_of(runner.pid)
    runner.send_signal(signal.SIGKILL)  # no chance to clean up
    runner.wait()
    assert children
    deadline = time.time() + 60  # children follow their runner (PR_SET_PDEATHSIG)
    while [c for c in children if _alive(c)] and time.time() < deadline:
        time.sleep(0.2)
    assert not [c for c in children if _alive(c)], "a killed runner left its children running"

    runner = _genesys(*args)
    _wait_for(run_dir, finished=3)
    runner.send_signal(signal.SIGTERM)  # polite: children checkpoint and stop
    output, _ = runner.communicate(timeout=300)
    assert runner.returncode != 0 and "run the same command again" in output

    runner = _genesys(*args)
    output, _ = runner.communicate(timeout=1200)
    assert runner.returncode == 0, output

    resumed, reference = records(run_dir), records(quick_run)
    assert {k: v for k, v in resumed.items() if k != "attempts"} == {
        k: v for k, v in reference.items() if k != "attempts"}
    assert resumed["attempts"] > reference["attempts"]  # lost runs were started again, under their own names
    assert designs_json(run_dir) == designs_json(quick_run)  # and trained on from their checkpoints to the same bits
