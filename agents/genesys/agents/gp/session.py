"""A GP design session: candidates until one passes the symbolic checker and is new.

    result = run_session("gpt2-m1", "mutation", [seed_design("gpt2")], existing, seed=0,
                         max_attempts=20, check_config=quick_config())
    result.design, result.report, result.attempts

Candidates whose structural fingerprint matches an existing design (parents and
earlier candidates included) are skipped without running the checker; only checked
candidates count against `max_attempts`. The same seed and the same checker
verdicts give the same session.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from genesys.agents.gp.fingerprint import fingerprint
from genesys.agents.gp.operators import NoCandidateError, generate
from genesys.api import Design
from genesys.api.vocabulary import check_parent_count

Checker = Callable[[Design, Any], dict[str, Any]]
DRAWS_PER_ATTEMPT = 25  # fresh candidates drawn per attempt before the operator counts as exhausted


def check_candidate(design: Design, config: Any) -> dict[str, Any]:
    """The symbolic checker's report, as the dict written to check.json."""
    from genesys.gau.checker import check_design

    return check_design(design, config).to_dict()


@dataclass(frozen=True)
class Attempt:
    """One candidate of the session, as a line of session.jsonl."""

    attempt: int
    operation: str
    tried: str  # the proposal title: what was changed
    fingerprint: str
    passed: bool
    reason: str
    checked: bool = False  # the checker ran (duplicates and exhausted draws are not checked)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SessionResult:
    design: Design | None  # the first candidate that passed, or None
    report: dict[str, Any] | None  # the check report of the last checked candidate
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return sum(1 for a in self.attempts if a.checked)


def failure_reason(report: dict[str, Any]) -> str:
    """"passed", or the first failed check and the first line of its message."""
    if report.get("passed"):
        return "passed"
    failed = [c for c in report.get("checks", []) if c.get("status") == "fail"]
    if not failed:
        return "failed"
    first = failed[0]
    message = str(first.get("message", "")).splitlines()
    return f"{first.get('name')}: {message[0] if message else 'failed'}"[:300]


def run_session(
    name: str,
    operation: str,
    parents: Sequence[Design],
    existing: Sequence[Design],
    seed: int,
    max_attempts: int,
    check_config: Any = None,
    evolution: str | None = None,
    checker: Checker | None = None,
) -> SessionResult:
    """Generate candidates of `operation` from `parents` until one passes the checker
    (`check_config`, quick by default) and duplicates no existing design, at most
    `max_attempts` checks. Raises ValueError for an unknown operation or parent count."""
    check_parent_count(operation, len(parents))
    if check_config is None:
        from genesys.gau.checker import quick_config

        check_config = quick_config()
    check = checker or check_candidate
    rng = random.Random(seed)
    seen = {fingerprint(d): d.name for d in [*existing, *parents]}
    attempts: list[Attempt] = []
    report: dict[str, Any] | None = None
    checks = 0
    while checks < max_attempts:
        candidate = None
        for _ in range(DRAWS_PER_ATTEMPT):
            try:
                design = generate(operation, parents, name, rng, evolution)
            except NoCandidateError as err:
                attempts.append(Attempt(len(attempts) + 1, operation, "-", "", False, f"no candidate: {err}"))
                return SessionResult(None, report, attempts)
            fp = fingerprint(design)
            if fp not in seen:
                candidate = design
                break
            title = design.spec.proposal.title if design.spec.proposal else "-"
            attempts.append(Attempt(len(attempts) + 1, operation, title, fp, False, f"duplicate of {seen[fp]}"))
        if candidate is None:
            attempts.append(Attempt(len(attempts) + 1, operation, "-", "", False,
                                    f"no candidate: {DRAWS_PER_ATTEMPT} draws in a row duplicated existing designs"))
            return SessionResult(None, report, attempts)
        seen[fp] = f"attempt {len(attempts) + 1}"
        checks += 1
        report = check(candidate, check_config)
        passed = bool(report.get("passed"))
        title = candidate.spec.proposal.title if candidate.spec.proposal else "-"
        attempts.append(Attempt(len(attempts) + 1, operation, title, fp, passed, failure_reason(report), True,
                                float(report.get("seconds", 0.0))))
        if passed:
            return SessionResult(candidate, report, attempts)
    return SessionResult(None, report, attempts)
