"""genesys.agents.llm against a scripted OpenAI-compatible server, through litellm's real HTTP path.

Every test runs under the agent tests' network guard (tests/support/network_guard.py): no
connection may reach anything but 127.0.0.1. Backoff waits are tiny or go to a fake sleep.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import sys
import time

import pytest
from pydantic import ValidationError

from genesys.agents.llm import BudgetExceeded, LLMClient, LLMError, PreflightError, TemplateRef, preflight
from genesys.api.evolution import LLMDesignerSpec
from scripted_llm import CANARY_KEY, ScriptedLLM, empty, fault, malformed, slow, text

KEY_ENV = "GENESYS_TEST_LLM_KEY"
CODER = "openai/test-coder"

@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, CANARY_KEY)


def test_the_guard_sees_connections(no_network):
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client.connect(server.getsockname())
        sys.audit("socket.connect", client, ("192.0.2.9", 80))  # the event a remote connect raises
    assert no_network == [("socket.connect", ("192.0.2.9", 80))]
    no_network.clear()


def make_spec(url: str, models: list[tuple[str, float]] | None = None, **extra) -> LLMDesignerSpec:
    default = {"models": [{"model": m, "weight": w} for m, w in (models or [(CODER, 1)])],
               "apiBase": url + "/v1", "apiKeyEnv": KEY_ENV, "timeoutSeconds": 5, "maxTokens": 64}
    retry = {"tries": 3, "baseDelaySeconds": 0.01, "maxDelaySeconds": 30}
    return LLMDesignerSpec.model_validate({"roles": {"default": default}, "retry": retry, **extra})


def client_for(spec: LLMDesignerSpec, **kw) -> tuple[LLMClient, list[dict]]:
    events: list[dict] = []
    return LLMClient(spec, transcript=events.append, **kw), events


USER = [{"role": "user", "content": "Write a unit."}]


def test_a_reply_carries_usage_and_the_cost_from_the_spec_price():
    with ScriptedLLM() as llm:
        llm.script(CODER, [text("class Unit: ...", prompt_tokens=1000, completion_tokens=500)])
        spec = make_spec(llm.url, prices={CODER: {"input": 2.0, "output": 8.0}})
        client, events = client_for(spec)
        reply = client.complete("coder", USER, template=TemplateRef.of("coder/unit.md", "{{ unit }}"))
    assert (reply.text, reply.model, reply.tokens_in, reply.tokens_out) == ("class Unit: ...", CODER, 1000, 500)
    assert reply.cost_source == "spec" and reply.cost_usd == pytest.approx((1000 * 2 + 500 * 8) / 1e6)
    assert reply.attempts == 1 and client.spent_usd == reply.cost_usd
    (request,) = llm.requests
    assert request.model == "test-coder" and request.messages == USER and request.authorized
    assert request.body["max_tokens"] == 64 and request.headers["authorization"] == "<hidden>"
    (event,) = events
    assert event["role"] == "coder" and event["template"]["name"] == "coder/unit.md"
    assert len(event["template"]["sha256"]) == 64 and event["reply"] == "class Unit: ..." and event["error"] is None
    assert (event["tokens_in"], event["cost_source"]) == (1000, "spec") and event["latency_s"] > 0


def test_litellm_price_wins_and_unknown_models_count_tokens_only():
    with ScriptedLLM() as llm:
        llm.script("openai/gpt-4o", [text("a", prompt_tokens=100, completion_tokens=10)])
        llm.script(CODER, [text("b", prompt_tokens=100, completion_tokens=10)])
        known = make_spec(llm.url, [("openai/gpt-4o", 1)], prices={"openai/gpt-4o": {"input": 1e6, "output": 1e6}})
        priced = LLMClient(known).complete("proposer", USER)
        unknown, events = client_for(make_spec(llm.url))
        unpriced = unknown.complete("proposer", USER)
    assert priced.cost_source == "litellm" and 0 < priced.cost_usd < 0.01  # not the spec's absurd price
    assert (unpriced.cost_source, unpriced.cost_usd, unpriced.tokens_in, unpriced.tokens_out) == ("unknown", 0, 100, 10)
    assert events[0]["cost_source"] == "unknown" and events[0]["tokens_in"] == 100


def test_429_with_retry_after_waits_as_asked_and_recovers():
    waits: list[float] = []
    with ScriptedLLM() as llm:
        llm.script(CODER, [fault(429, {"Retry-After": "7"}), fault(503), "done"])
        client, events = client_for(make_spec(llm.url), sleep=waits.append)
        reply = client.complete("coder", USER)
    assert reply.text == "done" and reply.attempts == 3 and len(llm.requests) == 3
    assert waits[0] == 7.0 and 0.005 <= waits[1] <= 0.015 * 2  # Retry-After honoured, then own backoff
    assert len(events) == 1 and events[0]["attempts"] == 3


def test_exhausted_retries_end_with_rate_limited():
    waits: list[float] = []
    with ScriptedLLM() as llm:
        llm.script(CODER, [fault(429)] * 3)
        client, events = client_for(make_spec(llm.url), sleep=waits.append)
        with pytest.raises(LLMError) as caught:
            client.complete("coder", USER)
    assert caught.value.reason == "rate limited" and "after 3 tries" in str(caught.value)
    assert len(llm.requests) == 3 and len(waits) == 2 and waits[1] > waits[0] * 0.6  # exponential, jittered
    assert events[0]["error"] == "rate limited" and events[0]["cost_usd"] == 0


def test_401_fails_at_once_and_the_key_appears_nowhere(caplog, capsys):
    caplog.set_level(logging.DEBUG)
    with ScriptedLLM() as llm:
        llm.script(CODER, [fault(401, message="invalid key"), "never sent"])
        client, events = client_for(make_spec(llm.url), sleep=lambda s: pytest.fail("no retry on 401"))
        with pytest.raises(LLMError) as caught:
            client.complete("coder", USER)
    err = caught.value
    assert err.reason == "authentication failed" and len(llm.requests) == 1 and llm.left(CODER) == 1
    assert err.__cause__ is None and err.__suppress_context__  # no chained litellm error to print
    out = capsys.readouterr()
    for where in (str(err), repr(err), err.detail, json.dumps(events), caplog.text, out.out, out.err):
        assert CANARY_KEY not in where
    assert client.redact(f"key={CANARY_KEY}") == "key=[redacted]"


def test_a_slow_server_times_out_within_its_bound():
    with ScriptedLLM() as llm:
        llm.script(CODER, [slow(4), slow(4)])
        spec = make_spec(llm.url)
        spec.roles.default.timeout_seconds = 1.0
        spec.retry.tries = 2
        client, _ = client_for(spec)
        start = time.monotonic()
        with pytest.raises(LLMError, match="timeout") as caught:
            client.complete("coder", USER)
        elapsed = time.monotonic() - start
    assert caught.value.reason == "timeout" and len(llm.requests) == 2
    assert elapsed < 2 * 1.0 + 1.5, elapsed


def test_the_cost_cap_stops_before_the_crossing_call():
    with ScriptedLLM() as llm:
        llm.script(CODER, [text(f"reply {i}", completion_tokens=64) for i in range(10)])
        spec = make_spec(llm.url, prices={CODER: {"input": 1000.0, "output": 1000.0}}, sessionCostCapUSD=0.25)
        client, events = client_for(spec)
        made = 0
        with pytest.raises(BudgetExceeded) as caught:
            for _ in range(10):
                client.complete("coder", USER)
                made += 1
    assert made >= 2 and len(llm.requests) == made and llm.left(CODER) == 10 - made  # the refused call never left
    assert client.spent_usd <= 0.25
    assert "llm.sessionCostCapUSD is $0.25" in str(caught.value) and f"{client.spent_usd:.6f}" in str(caught.value)
    assert sum(e["cost_usd"] for e in events) == pytest.approx(client.spent_usd)
    assert events[-1]["error"] == "budget exceeded" and len(events) == made + 1


def test_the_evolution_cap_counts_earlier_sessions():
    with ScriptedLLM() as llm:
        spec = make_spec(llm.url, prices={CODER: {"input": 1000.0, "output": 1000.0}}, evolutionCostCapUSD=1.0)
        client, _ = client_for(spec, spent_before_usd=0.99)
        with pytest.raises(BudgetExceeded, match=r"llm.evolutionCostCapUSD is \$1"):
            client.complete("coder", USER)
    assert llm.requests == []


def test_no_call_starts_after_the_session_wall_clock_limit():
    now = [0.0]
    with ScriptedLLM() as llm:
        llm.script(CODER, ["in time"])
        client, events = client_for(make_spec(llm.url, sessionWallMinutes=1), clock=lambda: now[0])
        assert client.complete("coder", USER).text == "in time"
        now[0] = 61.0
        with pytest.raises(LLMError, match=r"session time limit \(1 minutes"):
            client.complete("coder", USER)
    assert len(llm.requests) == 1 and events[-1]["error"] == "session time limit"


def test_weighted_model_choice_is_deterministic_under_a_seed():
    spec = make_spec("http://127.0.0.1:9", [("openai/a", 3), ("openai/b", 1)])
    clients = [LLMClient(spec, seed=seed) for seed in (5, 5, 6)]
    draws = [[client.choose_model("coder") for _ in range(400)] for client in clients]
    assert draws[0] == draws[1] and draws[0] != draws[2]
    assert 0.68 < draws[0].count("openai/a") / 400 < 0.82


def test_empty_and_malformed_replies():
    with ScriptedLLM() as llm:
        llm.script(CODER, [empty(), malformed()])
        client, _ = client_for(make_spec(llm.url, retry={"tries": 1}))
        assert client.complete("coder", USER).text == ""
        with pytest.raises(LLMError) as caught:
            client.complete("coder", USER)
    assert caught.value.reason == "server error" and CANARY_KEY not in str(caught.value)  # garbled: maybe transient


def test_a_missing_key_fails_the_call_before_it_is_made(monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with ScriptedLLM() as llm:
        client, events = client_for(make_spec(llm.url))
        with pytest.raises(LLMError, match=f"API key missing .*{KEY_ENV} is not set"):
            client.complete("planner", USER)
    assert llm.requests == [] and events[0]["error"] == "API key missing"


def test_preflight_reports_a_missing_key_in_one_message(monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with ScriptedLLM() as llm:
        with pytest.raises(PreflightError) as caught:
            preflight(make_spec(llm.url))
    assert str(caught.value) == (f"{CODER}: API key missing ({CODER} needs the environment variable {KEY_ENV} "
                                 "(llm.roles.default.apiKeyEnv); set it (cluster: a key of the Secret in llm.secret))")
    assert llm.requests == []


def test_preflight_calls_each_model_once_and_names_an_unreachable_one():
    with ScriptedLLM() as llm:
        llm.script(CODER, ["OK"])
        llm.script("openai/test-reviewer", ["OK"])
        spec = make_spec(llm.url)
        reviewer = [m.model_copy(update={"model": "openai/test-reviewer"}) for m in spec.roles.default.models or []]
        spec.roles.reviewer = spec.roles.default.model_copy(update={"models": reviewer})
        replies = preflight(spec)
    assert sorted(r.model for r in replies) == [CODER, "openai/test-reviewer"]
    assert [r.body["max_tokens"] for r in llm.requests] == [1, 1]
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PreflightError, match=rf"{CODER} at http://127.0.0.1:{port}/v1 did not answer"):
        preflight(make_spec(f"http://127.0.0.1:{port}", retry={"tries": 1}))


def test_role_settings_inherit_and_bad_specs_are_refused_clearly():
    spec = LLMDesignerSpec.model_validate({"roles": {
        "default": {"models": [{"model": "openai/gpt-4o"}], "apiKeyEnv": "OPENAI_API_KEY"},
        "coder": {"models": [{"model": "openai/o4-mini", "weight": 2}], "maxTokens": 8192}}})
    coder, proposer = spec.role("coder"), spec.role("proposer")
    assert (coder.max_tokens, coder.api_key_env, coder.timeout_seconds) == (8192, "OPENAI_API_KEY", 120.0)
    assert proposer.models and proposer.models[0].model == "openai/gpt-4o" and proposer.max_tokens == 4096
    assert spec.models() == ["openai/gpt-4o", "openai/o4-mini"] and spec.limits.coder_attempts == 7
    good = {"default": {"models": [{"model": "m"}]}}
    for roles, message in [({**good, "implementer": {}}, "unknown role(s) ['implementer']"),
                           ({"coder": {"models": [{"model": "m"}]}}, "no models for proposer, reviewer"),
                           ({"default": {"models": [{"model": "m", "weight": 0}]}}, "greater than 0"),
                           ({"default": {"models": [{"model": "m"}, {"model": "m"}]}}, "listed twice")]:
        with pytest.raises(ValidationError, match=re.escape(message)):
            LLMDesignerSpec.model_validate({"roles": roles})
    with pytest.raises(ValidationError, match="cannot exceed"):
        LLMDesignerSpec.model_validate({"roles": good, "sessionCostCapUSD": 5, "evolutionCostCapUSD": 1})


def test_the_scripted_server_refuses_a_wrong_key_and_flags_unscripted_requests(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-wrong")
    with pytest.raises(AssertionError, match="without the expected API key"), ScriptedLLM() as llm:
        llm.script(CODER, ["kept for the right key"])
        with pytest.raises(LLMError, match="authentication failed"):
            LLMClient(make_spec(llm.url)).complete("coder", USER)
        assert llm.left(CODER) == 1
    monkeypatch.setenv(KEY_ENV, CANARY_KEY)
    with pytest.raises(AssertionError, match="no scripted reply"), ScriptedLLM() as llm:
        with pytest.raises(LLMError, match="bad request"):
            LLMClient(make_spec(llm.url)).complete("coder", USER)
