"""Design sessions: retries until a candidate passes, never a duplicate, same seed same session."""

from __future__ import annotations

import random

import pytest

from genesys.agents.gp import fingerprint, generate, run_session
from genesys.gau.checker import quick_config


def test_first_passing_candidate_is_returned(seeds, gp):
    verdicts = iter([False, False, True])
    check = gp.fake_checker(lambda d: next(verdicts))
    result = run_session("gpt2-m1", "mutation", [seeds["gpt2"]], [], seed=3, max_attempts=5, checker=check)
    assert result.design is not None and result.design.name == "gpt2-m1"
    assert [a.passed for a in result.attempts if a.checked] == [False, False, True]
    assert result.checked == 3 == len(check.calls) and result.report.passed
    assert result.design is check.calls[-1]
    assert all(a.fingerprint and a.tried for a in result.attempts)


def test_duplicates_of_existing_designs_are_never_returned(seeds, gp):
    parent = seeds["gpt2"]
    # The store already holds what this seed would propose first, under another name.
    first = generate("mutation", [parent], "taken", random.Random(11))
    check = gp.fake_checker(True)
    result = run_session("new", "mutation", [parent], [first], seed=11, max_attempts=3, checker=check)
    assert fingerprint(result.design) not in {fingerprint(first), fingerprint(parent)}
    assert result.attempts[0].reason == "duplicate of taken" and not result.attempts[0].checked
    assert len(check.calls) == 1


def test_candidates_within_a_session_are_all_different(seeds, gp):
    check = gp.fake_checker(False)
    result = run_session("x", "mutation", [seeds["rwkv6"]], list(seeds.values()), seed=0, max_attempts=8,
                         checker=check)
    prints = [fingerprint(d) for d in check.calls]
    assert len(set(prints)) == len(prints) == 8 == result.checked
    assert not set(prints) & {fingerprint(s) for s in seeds.values()}


def test_nothing_passes_within_max_attempts(seeds, gp):
    check = gp.fake_checker(False)
    result = run_session("s", "scratch", [], [], seed=1, max_attempts=4, checker=check)
    assert result.design is None and result.checked == 4
    assert result.report.to_dict() == {"schemaVersion": 1, "passed": False, "design": "s", "seconds": 0.0,
                                       "params": {}, "complexity_exponent": None,
                                       "checks": [{"name": "forward", "status": "fail", "message": "fake verdict",
                                                   "seconds": 0.0, "details": {}, "unit": None, "line": None}]}
    assert result.stage == "check"
    assert all(a.reason == "forward: fake verdict" for a in result.attempts)


def test_exhausted_operator_ends_the_session(seeds, gp):
    result = run_session("x", "crossover", [seeds["gpt2"], seeds["gpt2"]], [], seed=0, max_attempts=3,
                         checker=gp.fake_checker(True))
    assert result.design is None and result.checked == 0
    assert result.attempts[-1].reason.startswith("no candidate: ")
    # gpt2 and rwkv6 wire the same block and differ in two units: two new designs exist.
    result = run_session("y", "crossover", [seeds["gpt2"], seeds["rwkv6"]], list(seeds.values()), seed=0,
                         max_attempts=20, checker=gp.fake_checker(False))
    assert result.design is None and result.checked == 2
    assert result.attempts[-1].reason.startswith("no candidate: 25 draws in a row duplicated")


def test_same_seed_same_session(seeds, gp):
    def run(seed):
        verdicts = iter([False, False, True])
        return run_session("m", "mutation", [seeds["mamba2"]], [], seed=seed, max_attempts=5,
                           checker=gp.fake_checker(lambda d: next(verdicts)))

    a, b, c = run(7), run(7), run(8)
    assert a.attempts == b.attempts and a.design == b.design
    assert [x.fingerprint for x in a.attempts] != [x.fingerprint for x in c.attempts]


def test_bad_operation_or_parent_count_is_refused(seeds):
    with pytest.raises(ValueError, match="exactly 1"):
        run_session("m", "mutation", [seeds["gpt2"], seeds["ttt"]], [], seed=0, max_attempts=1)
    with pytest.raises(ValueError, match="unknown operation"):
        run_session("m", "grow", [], [], seed=0, max_attempts=1)


def test_a_real_checker_session_passes(seeds):
    """One real (quick) check: the symbolic checker accepts the first gpt2 mutation."""
    result = run_session("gpt2-real", "mutation", [seeds["gpt2"]], [], seed=0, max_attempts=2,
                         check_config=quick_config())
    assert result.design is not None, result.attempts
    assert result.report.passed and result.report.design == "gpt2-real"
    assert [c.name for c in result.report.checks][0] == "format"
