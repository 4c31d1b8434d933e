"""benchmarks/fitness_noise.py on the debug rung: one design, two training seeds, two jobs at once."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from genesys.trainer.tokenizer import load_tokenizer

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "fitness_noise.py"


def test_fitness_noise_reports_each_seed_and_the_spread(tmp_path):
    load_tokenizer()  # train the session's BPE once here, not in both jobs at once
    out = tmp_path / "noise"
    done = subprocess.run([sys.executable, str(BENCHMARK), "--rung", "debug", "--seeds", "2", "--designs", "gpt2",
                           "--set", "tokens=4096", "--set", "eval_limit=8", "--out", str(out), "--jobs", "2"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert (report["rung"], report["seeds"], report["jobs"]) == ("debug", 2, 2)
    gpt2 = report["designs"]["gpt2"]
    runs = [json.loads((out / "gpt2" / f"seed-{s}" / "result.json").read_text()) for s in (0, 1)]
    assert [r["config"]["options"]["seed"] for r in runs] == [0, 1]
    assert gpt2["seeds"] == [0, 1] and gpt2["failed"] == []
    assert gpt2["values"] == [r["fitness"] for r in runs]
    assert gpt2["mean"] == pytest.approx(sum(gpt2["values"]) / 2)
    assert gpt2["sd"] == pytest.approx(abs(gpt2["values"][0] - gpt2["values"][1]) / math.sqrt(2))
    assert gpt2["eval_stderr"] == pytest.approx(math.sqrt(sum(r["fitness_stderr"] ** 2 for r in runs) / 2))
    assert gpt2["train_sd_over_eval_stderr"] == pytest.approx(gpt2["sd"] / gpt2["eval_stderr"])
    assert set(gpt2["tasks"]) == set(runs[0]["evaluation"]["scores"])
