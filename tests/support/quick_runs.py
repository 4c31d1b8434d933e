"""Whole `genesys run`s of examples/evolution-quick.yaml, and what two runs of the same spec and seed must share.

Importable by name from any test (`from quick_runs import QUICK, records`), like result_builders.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from genesys.cli.main import app

QUICK = Path(__file__).resolve().parents[2] / "examples" / "evolution-quick.yaml"
# what a run's timing, machine and thread shares change: left out when two runs are compared
TIMED = {"created_at"}
TIMED_RUNG = {"device_seconds", "wall_seconds", "threads"}


def run_quick(run_dir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 1800) -> str:
    """`genesys run examples/evolution-quick.yaml` into `run_dir` to completion; its output."""
    env = {**(env or os.environ), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "genesys.cli", "run", str(QUICK), "--run-dir", str(run_dir), "--quiet",
                           "--metrics-port", "-1", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0 and "Completed" in done.stdout, done.stdout[-4000:]
    return done.stdout


def records(run_dir: Path) -> dict:
    """What a resumed run must reproduce: counts of records by kind and phase, and budget use per rung."""
    db = sqlite3.connect(run_dir / "state.db")
    try:
        return {
            "designs": db.execute("SELECT COUNT(*) FROM designs").fetchone()[0],
            "sessions": dict(db.execute("SELECT phase, COUNT(*) FROM sessions GROUP BY phase")),
            "verifications": sorted(db.execute("SELECT rung, phase, COUNT(*) FROM verifications GROUP BY rung, phase")),
            "used": dict(db.execute("SELECT rung, COUNT(*) FROM verifications WHERE phase != 'running' GROUP BY rung")),
            "pairs": db.execute("SELECT COUNT(DISTINCT design || '@' || rung) FROM verifications").fetchone()[0],
            "attempts": sum(r[0] for r in db.execute("SELECT attempts FROM verifications")),
        }
    finally:
        db.close()


def designs_json(run_dir: Path) -> list[dict[str, Any]]:
    """`genesys designs --json` of the run, without what timing changes (creation times, seconds, threads)."""
    listed = CliRunner().invoke(app, ["designs", "--run-dir", str(run_dir), "--json"])
    assert listed.exit_code == 0, listed.output
    designs = json.loads(listed.output)
    for design in designs:
        for key in TIMED:
            design.pop(key)
        for rung in design["rungs"]:
            for key in TIMED_RUNG:
                rung.pop(key)
    return designs
