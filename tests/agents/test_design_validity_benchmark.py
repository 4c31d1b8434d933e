"""benchmarks/design_validity.py measures what the sessions did (here against the scripted server)."""

from __future__ import annotations

import pytest

from benchmark_scripts import load_benchmark
from llm_session_fixtures import CHANNEL_GATE, GATED_MLP_WITH_GATE, code, observation, proposal, review
from scripted_llm import CANARY_KEY, ScriptedLLM


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("design_validity")


def test_the_benchmark_counts_valid_designs_per_mode(bench, monkeypatch):
    monkeypatch.setenv("BENCH_KEY", CANARY_KEY)
    one = "openai/test-all"
    with ScriptedLLM() as llm:
        # units: a session that fails its only proposal; direct: one that succeeds (the same model plays every role)
        llm.script(one, [proposal(), review(1.0),
                         proposal(), review(4.5), code(GATED_MLP_WITH_GATE, CHANNEL_GATE), observation(4)])
        report = bench.measure(one, f"{llm.url}/v1", "BENCH_KEY", 1, ["gpt2"], ["units", "direct"],
                               extra={"limits": {"proposalAttempts": 1, "searchRounds": 0}})
        assert {r.model for r in llm.requests} == {"test-all"} and len(llm.requests) == 6
    assert report["units"]["designs"] == 0 and report["units"]["stages"] == {"proposal": 1}
    assert report["direct"]["designs"] == 1 and report["direct"]["validity"] == 1.0
    assert report["direct"]["coder_calls_per_session"] == 1 and report["units_over_direct"] == 0.0


def test_the_benchmark_refuses_bad_arguments(bench, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--model", "openai/x", "--modes", "oneshot"])
    assert "--modes takes units and direct" in capsys.readouterr().err
