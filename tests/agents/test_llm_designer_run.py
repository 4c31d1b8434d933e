"""`genesys run` with a quick `llm` evolution: the preflight, two LLM design sessions as subprocesses, and
verification of what they designed, all against the scripted server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genesys.api import dump_manifest
from genesys.api.evolution import Evolution
from llm_session_fixtures import (
    CHANNEL_GATE,
    GATED_MLP_WITH_GATE,
    KEY_ENV,
    ROLES,
    code,
    llm_designer,
    model,
    observation,
    plan,
    proposal,
    review,
)
from scripted_llm import CANARY_KEY, ScriptedLLM

pytestmark = pytest.mark.slow

PRICES = {model(r): {"input": 1.0, "output": 2.0} for r in ROLES}


def evolution(url: str) -> Evolution:
    designer = llm_designer(url, prices=PRICES, limits={"searchRounds": 0})
    return Evolution.model_validate({
        "apiVersion": "genesys.dev/v1alpha1", "kind": "Evolution", "metadata": {"name": "llm-quick"},
        "spec": {"seeds": ["gpt2"], "ladder": {"preset": "cpu", "overrides": {"eval_limit": 30},
                                               "rungs": [{"name": "cpu-1", "runs": 3,
                                                          "overrides": {"tokens": 16384}}]},
                 "designer": designer.model_dump(by_alias=True, exclude_none=True),
                 "selection": {"warmupDesigns": 1}, "parallelism": {"designSessions": 1, "verifications": 1},
                 "stop": {"maxDesigns": 2}, "seed": 0}})


def script_two_sessions(llm: ScriptedLLM) -> None:
    """The preflight's probe per model, then two sessions (the second writes other constants, so it is new
    whether its parent is gpt2 or the first session's design)."""
    second_mlp = GATED_MLP_WITH_GATE.replace("hidden_mult: float = 2.0", "hidden_mult: float = 3.0")
    second_gate = CHANNEL_GATE.replace("2.0", "3.0")
    llm.script(model("proposer"), ["OK", proposal(), proposal(title="A wider channel-gated MLP")])
    llm.script(model("reviewer"), ["OK", review(4.5), review(4.0)])
    llm.script(model("planner"), ["OK", plan("GatedMLP"), plan("ChannelGate"), plan("GatedMLP"),
                                  plan("ChannelGate")])
    llm.script(model("coder"), ["OK", code(GATED_MLP_WITH_GATE), code(CHANNEL_GATE), code(second_mlp),
                                code(second_gate)])
    llm.script(model("observer"), ["OK", observation(4), observation(4), observation(4), observation(4)])


def test_genesys_run_with_an_llm_designer_verifies_its_designs(tmp_path: Path):
    run_dir = tmp_path / "run"
    with ScriptedLLM() as llm:
        script_two_sessions(llm)
        evo = tmp_path / "evolution.yaml"
        evo.write_text(dump_manifest(evolution(llm.url)))
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", KEY_ENV: CANARY_KEY}
        done = subprocess.run([sys.executable, "-m", "genesys.cli", "run", str(evo), "--run-dir", str(run_dir),
                               "--quiet", "--metrics-port", "-1"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=1800, check=False)
        assert done.returncode == 0 and "Completed" in done.stdout, done.stdout[-4000:]
        probes = [r for r in llm.requests if r.messages[-1]["content"] == "Reply with OK."]
        assert sorted(r.model for r in probes) == sorted(m.split("/")[1] for m in map(model, ROLES))
    listing = subprocess.run([sys.executable, "-m", "genesys.cli", "designs", "--run-dir", str(run_dir), "--json"],
                             env=env, capture_output=True, text=True, timeout=300, check=True)
    designs = {d["name"]: d for d in json.loads(listing.stdout)}
    made = [d for name, d in designs.items() if name != "gpt2"]
    assert len(made) == 2 and all(d.get("fitness") for d in made), designs  # both verified at cpu-1
    transcripts = sorted(run_dir.rglob("session.jsonl"))
    spent = sum(json.loads(line).get("cost_usd") or 0.0 for t in transcripts for line in t.read_text().splitlines())
    outcomes = [json.loads(p.read_text()) for p in run_dir.rglob("outcome.json")]
    assert len(outcomes) == 2 and sum(o["spend"]["usd"] for o in outcomes) == pytest.approx(spent) and spent > 0
    for path in run_dir.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".jsonl", ".yaml", ".log", ".txt"}:
            assert CANARY_KEY not in path.read_text(errors="replace"), path
