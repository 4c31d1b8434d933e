"""`genesys design --designer llm --model ...`: which designer the session's job gets, and bad flag combinations.

The session itself is the designers' business (tests/agents); here `run_job` is replaced by a
stand-in that records the job it is given and reports a failed session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from genesys.api.evolution import LLM_ROLES, DesignerSpec
from genesys.api.session import SessionOutcome
from genesys.cli.design import chosen_designer
from genesys.cli.main import app

runner = CliRunner()
LLM = {"roles": {"default": {"models": [{"model": "anthropic/claude-x"}], "apiKeyEnv": "ANTHROPIC_KEY",
                             "temperature": 0.5},
                 "coder": {"models": [{"model": "openai/coder-x", "weight": 2}], "apiBase": "http://vllm:8000/v1",
                           "temperature": 0.2, "maxTokens": 8000}},
       "prices": {"openai/coder-x": {"input": 1.0, "output": 2.0}}, "sessionCostCapUSD": 0.5,
       "evolutionCostCapUSD": 5.0, "limits": {"coderAttempts": 3}, "mode": "direct"}


def spec(**designer) -> DesignerSpec:
    return DesignerSpec.model_validate(designer)


def test_without_flags_the_evolutions_designer_is_used():
    gp = spec(kind="gp", maxAttempts=4)
    assert chosen_designer(gp, None, None, None, None) == gp
    assert chosen_designer(spec(kind="llm", llm=LLM), "gp", None, None, None).kind == "gp"
    assert chosen_designer(spec(kind="gp", llm=LLM), "llm", None, None, None) == spec(kind="llm", llm=LLM)


def test_a_model_for_every_role_on_a_gp_evolution():
    chosen = chosen_designer(spec(kind="gp", maxAttempts=4), "llm", "openai/local-m", "http://127.0.0.1:9/v1", "K")
    assert chosen.kind == "llm" and chosen.llm is not None and chosen.max_attempts == 4
    for role in LLM_ROLES:
        settings = chosen.llm.role(role)
        assert [m.model for m in settings.models or []] == ["openai/local-m"]
        assert (settings.api_base, settings.api_key_env) == ("http://127.0.0.1:9/v1", "K")


def test_a_model_for_every_role_keeps_the_evolutions_prices_caps_limits_and_role_settings():
    chosen = chosen_designer(spec(kind="llm", llm=LLM), "llm", "openai/local-m", None, None)
    assert chosen.llm is not None and chosen.llm.models() == ["openai/local-m"]
    coder, proposer = chosen.llm.role("coder"), chosen.llm.role("proposer")
    assert (coder.api_base, coder.api_key_env, coder.temperature, coder.max_tokens) == (None, None, 0.2, 8000)
    assert (proposer.api_key_env, proposer.temperature) == (None, 0.5)  # the provider's usual key variable
    kept = spec(kind="llm", llm=LLM).llm
    assert kept is not None
    assert (chosen.llm.prices, chosen.llm.session_cost_cap_usd, chosen.llm.evolution_cost_cap_usd) == (
        kept.prices, 0.5, 5.0)
    assert (chosen.llm.limits, chosen.llm.mode) == (kept.limits, "direct")


@pytest.mark.parametrize(("flags", "message"), [
    ((None, "openai/m", None, None), "--model: only for the LLM designer; add --designer llm"),
    (("gp", "openai/m", None, "K"), "--model, --api-key-env: only for the LLM designer; add --designer llm"),
    (("llm", None, "http://x/v1", None), "--api-base: set with --model MODEL"),
    (("llm", None, None, None), "the evolution has no designer.llm; pass --model MODEL"),
    (("llm", " ", None, None), "--model is empty"),
    (("lm", None, None, None), "--designer 'lm': use gp or llm"),
])
def test_bad_flag_combinations_name_the_fix(flags, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        chosen_designer(spec(kind="gp"), *flags)


@pytest.fixture
def evolution(tmp_path: Path) -> Path:
    path = tmp_path / "evo.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "genesys.dev/v1alpha1", "kind": "Evolution",
                                    "metadata": {"name": "demo"}, "spec": {"seeds": ["gpt2"]}}))
    return path


def design(evolution: Path, *flags: str):
    store = evolution.parent / "store"
    return runner.invoke(app, ["design", "--evolution", str(evolution), "--store", str(store), "--name", "d1",
                               "--operation", "scratch", "--out", str(store / "demo" / "designs" / "d1"), *flags],
                         terminal_width=200)


def test_the_flags_reach_the_sessions_job(evolution, monkeypatch):
    jobs = []

    def run_job(job, out):
        jobs.append(job)
        return SessionOutcome(design="d1", status="failed", stage="unavailable", reason="no answer from the endpoint")

    monkeypatch.setattr("genesys.agents.session.run_job", run_job)
    result = design(evolution, "--designer", "llm", "--model", "openai/local-m", "--api-base",
                    "http://127.0.0.1:9/v1", "--api-key-env", "LOCAL_KEY")
    assert result.exit_code == 1, result.output
    assert "with the LLM designer (openai/local-m)" in result.output
    assert "failed (unavailable): no answer from the endpoint" in result.output
    (job,) = jobs
    assert job.spec.designer.kind == "llm" and job.spec.designer.llm.role("observer").api_key_env == "LOCAL_KEY"


def test_a_model_without_the_llm_designer_is_a_usage_error_and_runs_nothing(evolution, monkeypatch):
    monkeypatch.setattr("genesys.agents.session.run_job", lambda job, out: pytest.fail("a session ran"))
    result = design(evolution, "--model", "openai/m")
    assert result.exit_code == 2 and "--model: only for the LLM designer; add --designer llm" in result.output
    assert not (evolution.parent / "store").exists()
