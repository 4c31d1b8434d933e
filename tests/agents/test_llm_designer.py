"""The LLM designer's whole session through litellm's real HTTP path, against the scripted server on 127.0.0.1.

Fixture replies hold real unit code (tests/support/llm_session_fixtures.py), so the real format
check and symbolic checker run on what the "coder" writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genesys.agents.llm_designer import LLMDesigner
from genesys.agents.session import run_job
from genesys.api import Design, ObjectMeta, dump_manifest, load_manifest
from genesys.api.evolution import DesignerSpec
from genesys.api.results import CheckReport
from genesys.api.session import DesignSessionJob, DesignSessionJobSpec, SessionOutcome
from llm_session_fixtures import (
    BAD_IMPORT,
    CHANNEL_GATE,
    GATED_MLP_WITH_GATE,
    KEY_ENV,
    code,
    llm_designer,
    model,
    observation,
    plan,
    proposal,
    review,
    script_mutation,
    search,
)
from scripted_llm import CANARY_KEY, ScriptedLLM, fault, slow, text

PRICES = {model(r): {"input": 1.0, "output": 2.0} for r in ("proposer", "reviewer", "planner", "coder", "observer")}


@pytest.fixture(scope="module")
def knowledge():
    from genesys.knowledge import DesignIndex, KnowledgeBase

    return KnowledgeBase(), DesignIndex


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, CANARY_KEY)


@pytest.fixture
def store(tmp_path: Path, seeds) -> Path:
    root = tmp_path / "store"
    path = root / "demo" / "designs" / "gpt2" / "design.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(dump_manifest(seeds["gpt2"]))
    return root


def run(store: Path, designer_spec, knowledge, name: str = "n1", operation: str = "mutation",
        parents: tuple[str, ...] = ("gpt2",), **job) -> tuple[SessionOutcome, Path]:
    spec = DesignSessionJobSpec.model_validate({"evolution": "demo", "operation": operation, "parents": list(parents),
                                                "seed": 1, "store": str(store), "designer": designer_spec, **job})
    kb, index = knowledge
    out = store / "demo" / "designs" / name
    outcome = run_job(DesignSessionJob(metadata=ObjectMeta(name=name), spec=spec), out,
                      LLMDesigner(designer_spec, knowledge=kb, designs=index()))
    return outcome, out


def events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "session.jsonl").read_text().splitlines()]


def transcript_usd(out: Path) -> float:
    return sum(e.get("cost_usd") or 0.0 for e in events(out) if e["event"] == "call")


def test_a_full_session_writes_the_gp_designers_outputs(store, knowledge):
    with ScriptedLLM() as llm:
        script_mutation(llm)
        outcome, out = run(store, llm_designer(llm.url, prices=PRICES), knowledge)
    assert outcome.status == "succeeded", outcome.reason
    assert sorted(p.name for p in out.iterdir()) == ["check.json", "design.yaml", "outcome.json", "session.jsonl"]
    design = load_manifest(out / "design.yaml", Design)
    tree = design.spec.tree
    assert tree.units["GatedMLP"].children == ["ChannelGate"] and "ChannelGate" in tree.units
    assert all(tree.units[n].code.strip() for n in tree.reachable()), "a placeholder is left"
    assert design.spec.proposal.rating == 4.5 and design.spec.parents == ["gpt2"]
    assert "## Review (4.5/5)" in design.spec.proposal.body
    report = CheckReport.from_json((out / "check.json").read_text())
    assert report.passed and report.design == "n1"
    # the spend is the transcript's, priced from the spec; every request went to the right role's model
    assert outcome.spend.llm_calls == 9 and outcome.spend.usd > 0
    assert outcome.spend.usd == pytest.approx(transcript_usd(out))
    calls = [e for e in events(out) if e["event"] == "call"]
    assert [c["role"] for c in calls] == ["proposer", "proposer", "reviewer", "planner", "coder", "observer",
                                          "planner", "coder", "observer"]
    assert all(c["template"]["name"].startswith(c["role"] + "/") and len(c["template"]["sha256"]) == 64
               for c in calls)
    assert {c["cost_source"] for c in calls} == {"spec"}
    # the proposer saw the parent's code and the search results it asked for; the reviewer saw papers
    proposer = llm.requests_for(model("proposer"))[1].messages[-1]["content"]
    assert "class GPT2Block(GAUBase)" in proposer and 'Search "output gating of MLPs"' in proposer
    assert "# Related papers" in llm.requests_for(model("reviewer"))[0].messages[-1]["content"]


def test_a_coder_that_always_fails_gets_its_attempts_per_round_and_the_session_ends(store, knowledge):
    with ScriptedLLM() as llm:
        llm.script(model("proposer"), [proposal(selection="RMSNorm", title="A gated norm")])
        llm.script(model("reviewer"), [review(4.5)])
        llm.script(model("planner"), [plan("RMSNorm")] * 3)
        llm.script(model("coder"), [code(BAD_IMPORT)] * 21)
        outcome, out = run(store, llm_designer(llm.url), knowledge)
        coder_calls = len(llm.requests_for(model("coder")))
    assert coder_calls == 21  # 7 per round, 3 rounds
    assert outcome.status == "failed" and outcome.stage == "implementation"
    assert "3 failed rounds" in outcome.reason and "unit RMSNorm" in outcome.reason and "format" in outcome.reason
    assert "import of 'os'" in outcome.reason or "os" in outcome.reason
    rounds = [e for e in events(out) if e["event"] == "decision" and "failed_rounds" in e]
    assert [r["failed_rounds"] for r in rounds] == [1, 2, 3]
    # each retry told the coder what failed, with the unit and line
    last = llm.requests_for(model("coder"))[6].messages[-1]["content"]
    assert "# Your earlier attempts failed" in last and last.count("format failed at unit RMSNorm") == 6
    assert not (out / "design.yaml").exists()


def test_a_reviewer_that_always_rejects_gets_exactly_the_proposal_attempts(store, knowledge):
    with ScriptedLLM() as llm:
        llm.script(model("proposer"), [proposal()] * 4)
        llm.script(model("reviewer"), [review(2.5, "Not new.")] * 4)
        outcome, out = run(store, llm_designer(llm.url, limits={"proposalAttempts": 4, "searchRounds": 0}), knowledge)
        assert len(llm.requests_for(model("proposer"))) == 4 and len(llm.requests_for(model("reviewer"))) == 4
        # the proposer's later attempts see the reviews
        assert '"Channel-gated MLP output" rated 2.5/5: Not new.' in \
            llm.requests_for(model("proposer"))[3].messages[-1]["content"]
    assert outcome.status == "failed" and outcome.stage == "proposal"
    assert "threshold 4 in 4 attempts" in outcome.reason and "best rating 2.5" in outcome.reason


def test_malformed_replies_stay_within_the_repair_limit(store, knowledge):
    with ScriptedLLM() as llm:
        # attempt 1: three unusable replies (1 + 2 repairs); attempt 2: a wrong selection, then repaired
        llm.script(model("proposer"), [text(""), "no json here", '{"title": "x"',
                                       proposal(selection="NoSuchUnit"), proposal()])
        llm.script(model("reviewer"), [review(1.0)])
        outcome, out = run(store, llm_designer(llm.url, limits={"proposalAttempts": 2, "searchRounds": 0}), knowledge)
        repair = llm.requests_for(model("proposer"))[4].messages
    parses = [e for e in events(out) if e["event"] == "parse"]
    assert [(p["repair"], p["ok"]) for p in parses[:3]] == [(0, False), (1, False), (2, False)]
    assert "empty" in parses[0]["error"] and "holds no JSON object" in parses[1]["error"]
    assert "NoSuchUnit" in repair[-1]["content"] and repair[-2]["role"] == "assistant"
    assert outcome.stage == "proposal"  # the repaired proposal was rated 1.0


def test_the_cost_cap_stops_the_session_before_the_crossing_call(store, knowledge):
    with ScriptedLLM() as llm:
        script_mutation(llm)
        # $1 / $2 per million tokens and 4000 max tokens: a proposer call may cost $0.012, the cap admits one
        spec = llm_designer(llm.url, prices=PRICES, sessionCostCapUSD=0.015)
        outcome, out = run(store, spec, knowledge)
        made = len(llm.requests)
    calls = [e for e in events(out) if e["event"] == "call"]
    refused = [c for c in calls if c["error"] == "budget exceeded"]
    assert outcome.stage == "budget" and "llm.sessionCostCapUSD is $0.015" in outcome.reason
    assert len(refused) == 1 and refused[-1] is calls[-1] and made == len(calls) - 1  # never sent
    assert outcome.spend.usd == pytest.approx(transcript_usd(out)) and 0 < outcome.spend.usd <= 0.015


def test_exhausted_rate_limits_end_the_session_with_rate_limited(store, knowledge):
    with ScriptedLLM() as llm:
        llm.script(model("proposer"), [fault(429, {"Retry-After": "0"})] * 2)
        outcome, _ = run(store, llm_designer(llm.url), knowledge)
    assert outcome.stage == "proposal" and "rate limited" in outcome.reason


def test_a_refused_key_is_unavailable_and_appears_nowhere(store, knowledge):
    with ScriptedLLM() as llm:
        llm.script(model("proposer"), [fault(401, message=f"invalid key {CANARY_KEY}")])
        outcome, out = run(store, llm_designer(llm.url), knowledge)
        assert len(llm.requests) == 1 and llm.requests[0].authorized  # sent once, with the key; not retried
    assert outcome.stage == "unavailable" and "authentication failed" in outcome.reason
    for path in out.iterdir():
        assert CANARY_KEY not in path.read_text(), path.name


def test_direct_mode_writes_every_unit_in_one_reply(store, knowledge):
    with ScriptedLLM() as llm:
        llm.script(model("proposer"), [proposal()])
        llm.script(model("reviewer"), [review(4.5)])
        llm.script(model("coder"), [code(GATED_MLP_WITH_GATE, CHANNEL_GATE)])
        llm.script(model("observer"), [observation(4)])
        outcome, out = run(store, llm_designer(llm.url, mode="direct", limits={"searchRounds": 0}), knowledge)
        assert not llm.requests_for(model("planner"))
    assert outcome.status == "succeeded", outcome.reason
    units = load_manifest(out / "design.yaml", Design).spec.tree.units
    assert units["ChannelGate"].code.strip() == CHANNEL_GATE.strip()


def test_a_scratch_design_that_reuses_a_seed_layout_is_a_duplicate(store, knowledge):
    with ScriptedLLM() as llm:
        llm.script(model("proposer"), [proposal(selection="HybridBlock", title="Back to basics")])
        llm.script(model("reviewer"), [review(4.0)])
        llm.script(model("planner"), [plan("HybridBlock", action="reuse", reuse="GPT2Block")])
        outcome, out = run(store, llm_designer(llm.url, limits={"searchRounds": 0}), knowledge, operation="scratch",
                           parents=())
    assert outcome.stage == "novelty" and "duplicates gpt2" in outcome.reason
    reused = [e for e in events(out) if e["event"] == "check"]
    assert reused[0]["reuse"] == "GPT2Block" and reused[0]["passed"]


def test_kill_9_mid_session_keeps_the_spend_and_leaves_no_partial_output(store, knowledge, tmp_path):

    with ScriptedLLM() as llm:
        llm.script(model("proposer"), [proposal()])
        llm.script(model("reviewer"), [review(4.5)])
        llm.script(model("planner"), [plan("GatedMLP")])
        llm.script(model("coder"), [slow(15, code(GATED_MLP_WITH_GATE))])  # killed while waiting for this
        spec = llm_designer(llm.url, prices=PRICES, limits={"searchRounds": 0})
        job = DesignSessionJob(metadata=ObjectMeta(name="n1"), spec=DesignSessionJobSpec.model_validate(
            {"evolution": "demo", "operation": "mutation", "parents": ["gpt2"], "seed": 1, "store": str(store),
             "designer": spec}))
        job_file = tmp_path / "job.yaml"
        job_file.write_text(dump_manifest(job))
        out = store / "demo" / "designs" / "n1"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", KEY_ENV: CANARY_KEY}
        proc = subprocess.Popen([sys.executable, "-m", "genesys.agents.session", "--job", str(job_file),
                                 "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 180
        while not llm.requests_for(model("coder")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-2000:]
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
    killed = events(out)
    assert {p.name for p in out.iterdir()} == {"session.jsonl"}  # no outcome, no design, no check
    assert [e["role"] for e in killed if e["event"] == "call"] == ["proposer", "reviewer", "planner"]
    first_spend = transcript_usd(out)
    assert first_spend > 0
    # the runtime starts the session again: its outcome counts both attempts' calls
    with ScriptedLLM() as llm:
        script_mutation(llm)
        outcome, out = run(store, llm_designer(llm.url, prices=PRICES), knowledge, attempt=2)
    assert outcome.status == "succeeded"
    assert {e["session_attempt"] for e in events(out)} == {1, 2}
    assert outcome.spend.usd == pytest.approx(transcript_usd(out)) and outcome.spend.usd > first_spend
    assert outcome.spend.llm_calls == 3 + 9


def test_a_gp_session_never_imports_litellm(store, tmp_path):

    job = DesignSessionJob(metadata=ObjectMeta(name="g1"), spec=DesignSessionJobSpec.model_validate(
        {"evolution": "demo", "operation": "mutation", "parents": ["gpt2"], "seed": 1, "store": str(store),
         "designer": DesignerSpec(max_attempts=1)}))
    job_file = tmp_path / "job.yaml"
    job_file.write_text(dump_manifest(job))
    probe = ("import runpy, sys\n"
             f"sys.argv = ['session', '--job', {str(job_file)!r}, '--out', {str(store / 'demo/designs/g1')!r}]\n"
             "try:\n    runpy.run_module('genesys.agents.session', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print('LITELLM' if any(m.split('.')[0] == 'litellm' for m in sys.modules) else 'CLEAN')\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.stdout.strip().splitlines()[-1] == "CLEAN", done.stdout + done.stderr
    assert (store / "demo/designs/g1/outcome.json").exists()


def test_the_proposer_sees_its_parents_fitness_per_rung_and_their_earlier_children(store, knowledge, seeds):
    from result_builders import build_result

    for name, result in [("v1", build_result("gpt2", "cpu-1", fitness=0.3781)),
                         ("v2", build_result("gpt2", "cpu-2", fitness=0.4012)),
                         ("v3", build_result("gpt2", "cpu-3", "failed", reason="diverged")),
                         ("v4", build_result("retnet", "cpu-1", fitness=0.2947))]:
        path = store / "demo" / "verifications" / name / "result.json"
        path.parent.mkdir(parents=True)
        path.write_text(result.to_json())
    child = seeds["retnet"].model_copy(deep=True)
    child.metadata.name, child.spec.parents, child.spec.operation = "gpt2-kid", ["gpt2"], "mutation"
    child.spec.proposal.title = "Channel gate on the MLP output"  # the idea the scripted proposal has again
    child.spec.proposal.abstract = "A learned sigmoid gate per channel scales what the MLP writes to the residual."
    (store / "demo" / "designs" / "gpt2-kid").mkdir()
    (store / "demo" / "designs" / "gpt2-kid" / "design.yaml").write_text(dump_manifest(child))
    with ScriptedLLM() as llm:
        llm.script(model("proposer"), [proposal()])
        llm.script(model("reviewer"), [review(1.0)])
        run(store, llm_designer(llm.url, limits={"proposalAttempts": 1, "searchRounds": 0}), knowledge)
        prompt = llm.requests_for(model("proposer"))[0].messages[-1]["content"]
        novelty = llm.requests_for(model("reviewer"))[0].messages[-1]["content"]
    assert "Fitness per rung: cpu-1 0.3781, cpu-2 0.4012\n" in prompt  # failed runs and other designs left out
    assert "- gpt2-kid: " in prompt.split("# Designs already made from these parents")[1]
    # the reviewer's novelty check puts the earlier proposal on the same idea first
    assert novelty.split("# The most similar earlier proposals\n")[1].startswith("- gpt2-kid: Channel gate on")


def test_the_reviewer_may_search_within_the_rounds(store, knowledge):
    with ScriptedLLM() as llm:
        llm.script(model("proposer"), [proposal()])
        llm.script(model("reviewer"), [search("gated residual writes"), search("more, past the limit"), review(1.0)])
        outcome, out = run(store, llm_designer(llm.url, limits={"proposalAttempts": 1, "searchRounds": 1}),
                           knowledge)
        prompts = [r.messages for r in llm.requests_for(model("reviewer"))]
    assert 'Search "gated residual writes"' in prompts[1][-1]["content"] and "1 search round(s) left" in \
        prompts[0][-1]["content"]
    assert "no search rounds are left" in prompts[2][-1]["content"]  # the second search was repaired
    assert [e["queries"] for e in events(out) if e["event"] == "search"] == [["gated residual writes"]]
    assert outcome.stage == "proposal"
