"""How outcomes settle records (genesys.evolution.outcomes), case by case and through a fake runtime."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genesys.api.contract import ContractError
from genesys.api.session import SessionOutcome, SessionSpend
from genesys.evolution import EvolutionState
from genesys.evolution.outcomes import (
    Exit,
    charged_device_seconds,
    design_failure,
    design_phase,
    failed_stage,
    next_design_order,
    settle_session,
    settle_verification,
)
from genesys.evolution.state import DesignRecord


def test_a_succeeded_result_settles_with_its_scores_and_charged_device_time(make_result):
    result = make_result(fitness=0.4, scores={"a": 0.5}, baselines={"a": 0.25}, device_seconds=10.0,
                         eval_seconds=2.0, wall_seconds=95.0)
    settled = settle_verification(result, Exit(0), attempts=1)
    assert (settled.verdict, settled.fitness, dict(settled.scores), dict(settled.baselines)) == (
        "succeeded", 0.4, {"a": 0.5}, {"a": 0.25})
    assert settled.device_seconds == charged_device_seconds(result) == 12.0 and settled.charged
    two = make_result(device_seconds=20.0, eval_seconds=2.0)
    two.train.world_size = 2  # the second process holds its device while rank 0 evaluates
    assert charged_device_seconds(two) == 24.0
    assert settled.summary["params"] == 123 and settled.summary["wall_seconds"] == 95.0
    assert settled.summary["fitness_stderr"] == 0.01 and settled.summary["world_size"] == 1


def test_threads_of_a_verification_reach_its_summary(make_result):
    result = make_result(math={"threads": 1})
    result.train.thread_history[:] = [(0, 1), (120, 2)]
    assert settle_verification(result, Exit(0), attempts=1).summary["threads"] == [1, 2]
    assert settle_verification(make_result(math={"threads": 2}), Exit(0), attempts=1).summary["threads"] == [2]


def test_a_failed_result_is_final_and_charged(make_result):
    result = make_result(status="failed", reason="diverged", message="loss is nan")
    settled = settle_verification(result, Exit(1), attempts=1)
    assert (settled.verdict, settled.reason, settled.charged) == ("failed", "diverged: loss is nan", True)


def test_a_malformed_result_fails_without_a_retry():
    settled = settle_verification(ContractError("r.json: not JSON"), Exit(1), attempts=1)
    assert settled.verdict == "failed" and settled.reason.startswith("malformed_result: r.json")


def test_lost_verifications_retry_then_fail_uncharged(make_result):
    interrupted = make_result(status="interrupted", reason="preempted")
    for result, exit in ((None, None), (None, Exit(-9, killed=True)), (interrupted, Exit(3)), (None, Exit(None))):
        assert settle_verification(result, exit, attempts=1, max_attempts=3).verdict == "retry"
        gave_up = settle_verification(result, exit, attempts=3, max_attempts=3)
        assert (gave_up.verdict, gave_up.charged, gave_up.reason) == ("failed", False, "preempted: interrupted 3 times")


def test_a_process_that_exited_by_itself_without_a_result_fails_charged():
    settled = settle_verification(None, Exit(1, log="logs/v.log"), attempts=1)
    assert settled.verdict == "failed" and settled.charged
    assert settled.reason == "no_result: exited with code 1 without writing result.json; see logs/v.log"
    assert settle_verification(None, Exit(-11), attempts=1).verdict == "failed"  # a crash (SIGSEGV) is its own


def test_session_settlements():
    ok = SessionOutcome(design="d", status="succeeded", title="GQA gpt2")
    assert (settle_session(ok, Exit(0), attempts=1).verdict, settle_session(ok, None, attempts=1).title) == (
        "succeeded", "GQA gpt2")
    failed = SessionOutcome(design="d", status="failed", stage="check", reason="no candidate passed")
    assert settle_session(failed, Exit(1), attempts=1).reason == "check: no candidate passed"
    assert "invalid outcome" in settle_session(ContractError("bad"), Exit(0), attempts=1).reason
    assert settle_session(None, Exit(2, log="l"), attempts=1).reason == (
        "exited with code 2 without writing outcome.json; see l")
    assert settle_session(None, Exit(-15, killed=True), attempts=2, max_attempts=3).verdict == "retry"
    assert settle_session(None, None, attempts=3, max_attempts=3).reason == "lost 3 times (killed before finishing)"


def test_a_settled_session_carries_its_spend_and_its_stage_reads_back_from_the_reason():
    spend = SessionSpend(llm_calls=3, tokens=900, usd=0.12)
    ok = SessionOutcome(design="d", status="succeeded", title="t", spend=spend)
    assert settle_session(ok, Exit(0), attempts=1).usd == 0.12
    refused = SessionOutcome(design="d", status="failed", stage="unavailable", spend=spend,
                             reason="authentication failed: openai/gpt-4o refused the key in OPENAI_API_KEY")
    settled = settle_session(refused, Exit(1), attempts=1)
    assert settled.usd == 0.12 and failed_stage(settled.reason) == "unavailable"
    assert settle_session(None, Exit(1), attempts=1).usd == 0.0
    for reason in (settle_session(None, Exit(1), attempts=1).reason, "unavailable", "killed: x", None, ""):
        assert failed_stage(reason) is None, reason
    assert failed_stage("budget: the session cost cap stopped it") == "budget"


def test_design_phase_and_why_a_design_failed():
    assert design_phase([]) == "Implemented" and design_phase(["failed", "running"]) == "Verifying"
    assert design_phase(["succeeded", "failed"]) == "Verified" and design_phase(["failed"]) == "Failed"
    assert design_failure("failed", []) == "SessionFailed"
    assert design_failure("succeeded", ["failed"]) == design_failure(None, ["failed"]) == "VerificationFailed"
    assert design_failure(None, ["succeeded", "failed"]) is None


def test_design_order_follows_the_population():
    state = EvolutionState(designs=(DesignRecord("s1", "seed"), DesignRecord("s2", "seed", order=1)))
    assert next_design_order(state) == 2


# What a child may do on one start: leave a result of some kind, be killed, crash, or exit silently.
BEHAVIOURS = ("succeeded", "failed", "malformed", "interrupted", "killed", "crashed", "silent")


def _start(behaviour: str, make_result):
    if behaviour == "succeeded":
        return make_result(), Exit(0)
    if behaviour == "failed":
        return make_result(status="failed", reason="oom", message="out of memory"), Exit(1)
    if behaviour == "malformed":
        return ContractError("result.json: not JSON"), Exit(0)
    if behaviour == "interrupted":
        return make_result(status="interrupted", reason="preempted"), Exit(3)
    if behaviour == "killed":
        return None, Exit(-9, killed=True)
    if behaviour == "crashed":
        return None, Exit(-11)
    return None, Exit(1)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # make_result holds no state
@given(st.lists(st.sampled_from(BEHAVIOURS), min_size=1, max_size=8), st.integers(1, 4))
def test_a_fake_runtime_settles_every_verification_within_its_attempts(make_result, behaviours, max_attempts):
    attempts, settled = 0, None
    for behaviour in behaviours:
        attempts += 1
        result, exit = _start(behaviour, make_result)
        settled = settle_verification(result, exit, attempts=attempts, max_attempts=max_attempts)
        if settled.verdict != "retry":
            break
        assert behaviour in ("interrupted", "killed"), "only a child the runtime lost is started again"
    assert attempts <= max_attempts or settled.verdict != "retry"
    if settled.verdict == "retry":
        return  # the runtime would start it again: behaviours ran out
    lost_every_time = all(b in ("interrupted", "killed") for b in behaviours[:attempts])
    assert settled.charged == (not lost_every_time), "only a verification the runtime lost every time is free"
    if settled.verdict == "succeeded":
        assert behaviours[attempts - 1] == "succeeded" and settled.fitness is not None
