"""Implementation, unit by unit: planner, coder, checks, observer; a failed candidate is rolled back.

Each round the planner picks the next unit to write (or an existing unit to reuse for it);
the coder then has up to `coderAttempts` calls to write it. A candidate must pass, in order:
the flow rules (genesys.agents.llm_designer.tree_edit), the format check and the symbolic
checker on the whole tree (placeholders run as identity), and the observer's rating. A
failure leaves the tree as it was and goes back to the coder as feedback naming the unit,
the line and the check. A round whose attempts all fail is a failed round; after
`maxFailedRounds` of them the session ends. In `direct` mode (the paper's baseline) the coder
writes every unit of the change in one reply and there is no planner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genesys.agents.fingerprint import inherited
from genesys.agents.llm_designer.proposal import Accepted
from genesys.agents.llm_designer.replies import (
    CodeReply,
    ObservationReply,
    PlanReply,
    ReplyError,
    ask,
    parse_code,
    parse_json,
)
from genesys.agents.llm_designer.session import LLMSession, SessionStop
from genesys.agents.llm_designer.tree_edit import FlowError, WorkTree
from genesys.api import Design, DesignSpec, ObjectMeta
from genesys.api.results import CheckReport


@dataclass(frozen=True)
class Verdict:
    """One candidate's checks: passed, or the failing check and a message for the coder."""

    passed: bool
    check: str
    message: str
    unit: str | None = None
    line: int | None = None
    report: CheckReport | None = None

    def summary(self) -> str:
        where = f"unit {self.unit}" + (f", line {self.line}" if self.line else "") if self.unit else "the design"
        return f"{self.check} failed at {where}: {self.message}"


def design_of(session: LLMSession, work: WorkTree, accepted: Accepted) -> Design:
    request = session.request
    return Design(metadata=ObjectMeta(name=request.name),
                  spec=DesignSpec(evolution=request.evolution, parents=[p.name for p in request.parents],
                                  operation=request.operation, proposal=accepted.as_proposal(), tree=work.tree(),
                                  **inherited(request.parents)))


class Implementer:
    def __init__(self, session: LLMSession, accepted: Accepted, check_config: Any):
        self.session, self.accepted, self.config = session, accepted, check_config
        self.limits = session.spec.limits
        self.checked = 0
        self.attempts = 0  # candidates made: coder replies and reuses
        self.last_report: CheckReport | None = None

    # -- checks ---------------------------------------------------------------------------------
    def verify(self, work: WorkTree) -> Verdict:
        """Format check, then the symbolic checker on the whole tree."""
        from genesys.gau.checker import check_design, check_format

        design = design_of(self.session, work, self.accepted)
        fmt = check_format(design)
        if fmt.status == "fail":
            return Verdict(False, "format", fmt.message, fmt.unit, fmt.line)
        report = check_design(design, self.config).to_model()
        self.checked += 1
        self.last_report = report
        if not report.passed:
            first = report.failures[0] if report.failures else None
            message = first.message if first else report.first_failure()
            return Verdict(False, first.name if first else "check", message, first.unit if first else None,
                           first.line if first else None, report)
        return Verdict(True, "check", "passed", report=report)

    def observe(self, work: WorkTree, units: list[str]) -> Verdict:
        s = self.session
        messages, ref = s.prompts.render(
            "observer", "observe", proposal=self.accepted.proposal, units=[(u, work.units[u].code) for u in units],
            outline=self._outline(work), threshold=self.limits.observer_threshold)
        try:
            rated = ask(s, "observer", messages, ref, lambda text: parse_json(text, ObservationReply))
        except ReplyError as err:
            return Verdict(False, "observer", f"the review could not be read: {err.error}", units[0])
        if rated.rating < self.limits.observer_threshold:
            return Verdict(False, "observer", f"rated {rated.rating:g}/5 (needs "
                                              f"{self.limits.observer_threshold:g}): {rated.review}", units[0])
        return Verdict(True, "observer", f"rated {rated.rating:g}/5: {rated.review}", units[0])

    # -- one candidate ----------------------------------------------------------------------------
    def _candidate(self, work: WorkTree, unit: str, reply: CodeReply) -> tuple[WorkTree, list[str]]:
        """The tree with the reply's code spliced in: `unit` first, then the new units it declared."""
        if self.session.spec.mode == "units":
            return work.with_unit(unit, reply.units[0]), [unit]
        from genesys.agents.llm_designer.tree_edit import unit_class

        blocks = {unit_class(code, "a unit of the reply"): code for code in reply.units}
        first = unit if unit in blocks else next(iter(blocks))
        work = work.with_unit(unit, blocks.pop(first))
        written = [unit]
        while work.pending and work.pending[0] in blocks:
            name = work.pending[0]
            work = work.with_unit(name, blocks.pop(name))
            written.append(name)
        if work.pending:
            raise FlowError(f"unit {work.pending[0]} is declared but the reply does not write it; write every "
                            "new unit in its own ```python block")
        if blocks:
            raise FlowError(f"the reply writes {', '.join(blocks)}, which no unit declares as a child")
        return work, written

    def _attempt(self, work: WorkTree, unit: str, plan: PlanReply | None,
                 feedback: list[str]) -> tuple[WorkTree | None, Verdict]:
        s = self.session
        current = s.request.parents[0].spec.tree.units.get(unit) if s.request.parents else None
        task = "unit" if s.spec.mode == "units" else "direct"
        messages, ref = s.prompts.render(
            "coder", task, proposal=self.accepted.proposal, unit=unit, instructions=plan.instructions if plan else "",
            outline=self._outline(work), current=current.code.strip() if current and current.code.strip() else "",
            children={c: work.units[c].code.strip() for c in (work.units[unit].children if unit in work.units else [])
                      if c in work.units and work.units[c].code.strip()},
            protected=sorted(work.protected), feedback=feedback)
        self.attempts += 1
        try:
            reply = ask(s, "coder", messages, ref, parse_code)
            candidate, written = self._candidate(work, unit, reply)
        except (ReplyError, FlowError) as err:
            message = err.error if isinstance(err, ReplyError) else str(err)
            return None, Verdict(False, "flow" if isinstance(err, FlowError) else "reply", message, unit)
        verdict = self.verify(candidate)
        if verdict.passed:
            verdict = self.observe(candidate, written)
        return (candidate if verdict.passed else None), verdict

    def _outline(self, work: WorkTree) -> str:
        from genesys.agents.gp.proposal import outline

        return outline(work.tree())

    # -- rounds ------------------------------------------------------------------------------------
    def plan(self, work: WorkTree, failures: list[str]) -> PlanReply:
        s = self.session
        pending = list(work.pending)

        def check(reply: PlanReply) -> None:
            if reply.unit not in pending:
                raise ValueError(f"unit must be one of the units still to write: {', '.join(pending)}")
            if reply.action == "reuse" and reply.reuse not in s.reusable:
                raise ValueError(f"reuse {reply.reuse!r} is not a unit you can reuse: name a library unit "
                                 "or a parent's unit as design.Unit")

        messages, ref = s.prompts.render(
            "planner", "plan", proposal=self.accepted.proposal, outline=self._outline(work), pending=pending,
            written=list(work.written), reusable=sorted(s.reusable), failures=failures)
        return ask(s, "planner", messages, ref, lambda text: parse_json(text, PlanReply), check)

    def run(self, work: WorkTree) -> WorkTree:
        """Rounds until no unit is left to write (SessionStop after too many failed rounds)."""
        failed_rounds = 0
        failures: list[str] = []
        while not work.done():
            unit, plan = work.pending[0], None
            if self.session.spec.mode == "units":
                try:
                    plan = self.plan(work, failures)
                except ReplyError as err:
                    failed_rounds, failures = self._failed(failed_rounds, failures, unit, f"planner: {err.error}")
                    continue
                unit = plan.unit
            written, verdict = self._round(work, unit, plan)
            if written is not None:
                work = written
                continue
            failed_rounds, failures = self._failed(failed_rounds, failures, unit, verdict.summary())
        return work

    def _failed(self, failed_rounds: int, failures: list[str], unit: str, summary: str) -> tuple[int, list[str]]:
        failed_rounds += 1
        self.session.record({"event": "decision", "stage": "implementation", "unit": unit, "accepted": False,
                             "failed_rounds": failed_rounds, "reason": summary})
        if failed_rounds >= self.limits.max_failed_rounds:
            raise SessionStop("implementation", f"{failed_rounds} failed rounds; last: unit {unit}: {summary}")
        return failed_rounds, [*failures, f"unit {unit}: {summary}"]

    def _round(self, work: WorkTree, unit: str, plan: PlanReply | None) -> tuple[WorkTree | None, Verdict]:
        s = self.session
        if plan is not None and plan.action == "reuse" and plan.reuse:
            self.attempts += 1
            try:
                candidate = work.with_reuse(unit, s.reusable[plan.reuse], {k: v for k, v in s.reusable.items()
                                                                          if "." not in k})
            except FlowError as err:
                return None, Verdict(False, "flow", str(err), unit)
            verdict = self.verify(candidate)
            s.record({"event": "check", "unit": unit, "reuse": plan.reuse, "passed": verdict.passed,
                      "check": verdict.check, "message": verdict.message[:2000]})
            return (candidate if verdict.passed else None), verdict
        feedback: list[str] = []
        verdict = Verdict(False, "coder", "no attempt", unit)
        for attempt in range(1, self.limits.coder_attempts + 1):
            made, verdict = self._attempt(work, unit, plan, feedback)
            s.record({"event": "check", "unit": unit, "attempt": attempt, "passed": verdict.passed,
                      "check": verdict.check, "where": {"unit": verdict.unit, "line": verdict.line},
                      "message": verdict.message[:2000]})
            if made is not None:
                return made, verdict
            feedback.append(verdict.summary())
        return None, verdict
