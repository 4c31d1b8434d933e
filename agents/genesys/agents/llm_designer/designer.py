"""The LLM designer behind the design-session seam (genesys.agents.session.Designer).

    proposal (proposer + reviewer)  ->  implementation (planner + coder + checks + observer)
        ->  final check at the evolution's check scale  ->  duplicate-fingerprint check  ->  Design

Every LLM call, parse, check and decision is a transcript event as it happens. The spend
reported is the transcript's: this session's calls plus those of its earlier, lost attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from genesys.agents.fingerprint import fingerprint
from genesys.agents.llm import BudgetExceeded, LLMClient, LLMError
from genesys.agents.llm_designer.implementation import Implementer, design_of
from genesys.agents.llm_designer.proposal import propose
from genesys.agents.llm_designer.session import LLMSession, SessionStop
from genesys.agents.llm_designer.tree_edit import WorkTree
from genesys.agents.session import DesignerResult, SessionRequest, session_check_config
from genesys.api.evolution import DesignerSpec
from genesys.api.results import CheckReport
from genesys.api.session import SessionSpend

# The LLM itself cannot be used: no later session would do better (the runtimes stop starting sessions).
UNAVAILABLE = {"API key missing", "authentication failed", "permission denied", "model not found",
               "connection error"}
def stage_of(err: LLMError, during: str) -> tuple[str, str]:
    if isinstance(err, BudgetExceeded) or err.reason == "session time limit":
        return "budget", str(err)
    if err.reason in UNAVAILABLE:
        return "unavailable", str(err)
    return during, str(err)


class LLMDesigner:
    def __init__(self, spec: DesignerSpec, *, knowledge: Any = None, designs: Any = None,
                 environ: Any = None, clock: Any = None, sleep: Any = None):
        if spec.kind != "llm" or spec.llm is None:
            raise ValueError("LLMDesigner needs designer.kind: llm and a designer.llm section")
        self.spec = spec
        self._knowledge, self._designs = knowledge, designs
        self._client_options = {k: v for k, v in (("environ", environ), ("clock", clock), ("sleep", sleep))
                                if v is not None}

    def _knowledge_base(self) -> Any:
        if self._knowledge is None:
            from genesys.knowledge import KnowledgeBase

            assert self.spec.llm is not None
            self._knowledge = KnowledgeBase.from_env(self.spec.llm.weaviate_url)
        return self._knowledge

    def _design_index(self, request: SessionRequest) -> Any:
        if self._designs is None:
            from genesys.knowledge import DesignIndex

            self._designs = DesignIndex()
        self._designs.add_all(d for d in request.existing if d.name not in self._designs)
        return self._designs

    def design(self, request: SessionRequest, record: Callable[[dict[str, Any]], None]) -> DesignerResult:
        assert self.spec.llm is not None
        client = LLMClient(self.spec.llm, transcript=record, seed=request.seed,
                           spent_before_usd=request.evolution_spent_usd, **self._client_options)
        client.spent_usd = request.prior.usd  # earlier, lost attempts count against the session cap
        implementer: Implementer | None = None
        stage, reason = "proposal", ""
        session = None
        try:
            session = LLMSession(request, self.spec, client, record, self._knowledge_base(),
                                 self._design_index(request))
            accepted = propose(session)
            stage = "implementation"
            work = WorkTree.start(request.operation, request.parents, accepted.proposal.selection or "")
            implementer = Implementer(session, accepted, session_check_config("quick"))
            work = implementer.run(work)
            stage = "check"
            design = design_of(session, work, accepted)
            report = self._final_check(implementer, design)
            if not report.passed:
                raise SessionStop("check", f"the final check at scale {self.spec.check_scale} failed: "
                                           f"{report.first_failure()}")
            duplicate = self._duplicate(request, design)
            if duplicate:
                raise SessionStop("novelty", f"the design duplicates {duplicate} (same structural fingerprint)")
            record({"event": "decision", "stage": "final", "accepted": True, "title": accepted.proposal.title})
            return self._result(design, report, None, None, client, session, implementer)
        except SessionStop as stop:
            stage, reason = stop.stage, stop.reason
        except LLMError as err:
            stage, reason = stage_of(err, stage)
        record({"event": "decision", "stage": stage, "accepted": False, "reason": reason})
        return self._result(None, implementer.last_report if implementer else None, stage, reason, client,
                            session, implementer)

    def _final_check(self, implementer: Implementer, design: Any) -> CheckReport:
        if self.spec.check_scale == "quick" and implementer.last_report is not None \
                and implementer.last_report.passed:
            return implementer.last_report  # the last candidate's check was this tree at this scale
        from genesys.gau.checker import check_design

        implementer.checked += 1
        implementer.last_report = check_design(design, session_check_config(self.spec.check_scale)).to_model()
        return implementer.last_report

    @staticmethod
    def _duplicate(request: SessionRequest, design: Any) -> str | None:
        seen = {fingerprint(d): d.name for d in [*request.existing, *request.parents]}
        return seen.get(fingerprint(design))

    @staticmethod
    def _result(design: Any, report: CheckReport | None, stage: Any, reason: str | None, client: LLMClient,
                session: LLMSession | None, implementer: Implementer | None) -> DesignerResult:
        checked = implementer.checked if implementer else 0
        prior = session.request.prior if session else SessionSpend()
        spend = SessionSpend(checks=checked, llm_calls=prior.llm_calls + (session.calls if session else 0),
                             tokens=prior.tokens + (session.tokens if session else 0), usd=client.spent_usd)
        attempts = implementer.attempts if implementer else 0
        return DesignerResult(design, report, stage, reason, attempts, checked, spend)
