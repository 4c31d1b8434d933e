"""`genesys run` with parallelism.nprocPerVerification: 2 (torchrun, gloo on CPU) verifies a design."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

from genesys.api.threads import available_cores, fair_shares

# examples/evolution-quick.yaml cut to one verification: the seed gpt2 at cpu-1 (2 optimizer
# steps), no new designs, and each verification run as two processes.
EVOLUTION = """\
apiVersion: genesys.dev/v1alpha1
kind: Evolution
metadata:
  name: two-process
spec:
  seeds: [gpt2]
  ladder:
    preset: cpu
    overrides: {eval_limit: 10}
    rungs:
      - {name: cpu-1, runs: 1, overrides: {tokens: 8192}}
  parallelism:
    nprocPerVerification: 2
  stop:
    maxDesigns: 0
  seed: 0
"""


def test_a_verification_of_two_processes_succeeds_and_records_its_world_size(tmp_path):
    (tmp_path / "evolution.yaml").write_text(EVOLUTION)
    run_dir = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "genesys.cli", "run", str(tmp_path / "evolution.yaml"),
                           "--run-dir", str(run_dir), "--quiet", "--metrics-port", "-1"],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    assert done.returncode == 0 and "Completed" in done.stdout, done.stdout
    db = sqlite3.connect(run_dir / "state.db")
    try:
        rows = db.execute("SELECT name, phase, reason, summary FROM verifications").fetchall()
    finally:
        db.close()
    assert [(name, phase) for name, phase, _, _ in rows] == [("gpt2-cpu-1", "succeeded")], rows
    assert json.loads(rows[0][3])["world_size"] == 2  # the core's settlement carries it into the views
    (result_file,) = run_dir.rglob("gpt2-cpu-1/result.json")
    result = json.loads(result_file.read_text())
    assert result["train"]["world_size"] == 2 and result["train"]["tokens"] == 8192
    # the runtime gave each of the two processes its share of the cores
    assert result["math"]["threads"] == fair_shares(available_cores(), [2])[0]
