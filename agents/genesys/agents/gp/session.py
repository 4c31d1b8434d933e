"""A GP design session: candidates until one passes the symbolic checker and is new.

    result = run_session("gpt2-m1", "mutation", [seed_design("gpt2")], existing, seed=0,
                         max_attempts=20, check_config=quick_config())
    result.design, result.report, result.attempts     # report: genesys.api.CheckReport

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

from genesys.agents.fingerprint import fingerprint
from genesys.agents.gp.operators import NoCandidateError, generate
from genesys.api import Design
from genesys.api.results import CheckReport
from genesys.api.session import SessionStage
from genesys.api.vocabulary import check_parent_count

Checker = Callable[[Design, Any], CheckReport]
DRAWS_PER_ATTEMPT = 25  # fresh candidates drawn per attempt before the operator counts as exhausted


def check_candidate(design: Design, config: Any) -> CheckReport:
    """The symbolic checker's report, as written to check.json."""
    from genesys.gau.checker import check_design

    return check_design(design, config).to_model()


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
    report: CheckReport | None  # the check report of the last checked candidate
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def stage(self) -> SessionStage | None:
        """Where a failed session stopped: no new candidate was left (novelty), or none passed (check)."""
        if self.design is not None:
            return None
        return "novelty" if self.attempts and self.attempts[-1].reason.startswith("no candidate") else "check"

    @property
    def checked(self) -> int:
        return sum(1 for a in self.attempts if a.checked)


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
    on_attempt: Callable[[Attempt], None] = lambda attempt: None,
) -> SessionResult:
    """Generate candidates of `operation` from `parents` until one passes the checker
    (`check_config`, quick by default) and duplicates no existing design, at most
    `max_attempts` checks; `on_attempt` sees each attempt as it is made (the transcript).
    Raises ValueError for an unknown operation or parent count."""
    check_parent_count(operation, len(parents))
    if check_config is None:
        from genesys.gau.checker import quick_config

        check_config = quick_config()
    check = checker or check_candidate
    rng = random.Random(seed)
    seen = {fingerprint(d): d.name for d in [*existing, *parents]}
    attempts: list[Attempt] = []

    def record(attempt: Attempt) -> None:
        attempts.append(attempt)
        on_attempt(attempt)

    report: CheckReport | None = None
    checks = 0
    while checks < max_attempts:
        candidate = None
        for _ in range(DRAWS_PER_ATTEMPT):
            try:
                design = generate(operation, parents, name, rng, evolution)
            except NoCandidateError as err:
                record(Attempt(len(attempts) + 1, operation, "-", "", False, f"no candidate: {err}"))
                return SessionResult(None, report, attempts)
            fp = fingerprint(design)
            if fp not in seen:
                candidate = design
                break
            title = design.spec.proposal.title if design.spec.proposal else "-"
            record(Attempt(len(attempts) + 1, operation, title, fp, False, f"duplicate of {seen[fp]}"))
        if candidate is None:
            record(Attempt(len(attempts) + 1, operation, "-", "", False,
                           f"no candidate: {DRAWS_PER_ATTEMPT} draws in a row duplicated existing designs"))
            return SessionResult(None, report, attempts)
        seen[fp] = f"attempt {len(attempts) + 1}"
        checks += 1
        report = check(candidate, check_config)
        title = candidate.spec.proposal.title if candidate.spec.proposal else "-"
        record(Attempt(len(attempts) + 1, operation, title, fp, report.passed, report.first_failure(), True,
                       report.seconds))
        if report.passed:
            return SessionResult(candidate, report, attempts)
    return SessionResult(None, report, attempts)

