"""One LLM design session's shared state: its request, client, prompts, knowledge, and what agents are shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from genesys.agents.llm import LLMClient, Reply, TemplateRef
from genesys.agents.llm_designer.context import design_view, library_view, reusable_units, siblings
from genesys.agents.llm_designer.prompting import Prompts
from genesys.agents.session import SessionRequest
from genesys.api.evolution import DesignerSpec
from genesys.api.session import SessionStage


class SessionStop(Exception):
    """The session ends without a design: where (`stage`) and why, in one line."""

    def __init__(self, stage: SessionStage, reason: str):
        self.stage, self.reason = stage, reason
        super().__init__(f"{stage}: {reason}")


class LLMSession:
    def __init__(self, request: SessionRequest, designer: DesignerSpec, client: LLMClient,
                 record: Callable[[dict[str, Any]], None], knowledge: Any, designs: Any,
                 prompts: Prompts | None = None):
        assert designer.llm is not None
        self.request, self.designer, self.spec = request, designer, designer.llm
        self.client, self.record, self.knowledge, self.designs = client, record, knowledge, designs
        self.prompts = prompts or Prompts()
        self.calls = 0
        self.tokens = 0
        self.parent_views = [design_view(p, request.scores.get(p.name)) for p in request.parents]
        self.sibling_views = siblings(request.parents, request.existing)
        self.library_rows = library_view()
        self.reusable = reusable_units(request.parents)

    def call(self, role: str, messages: list[dict[str, str]], template: TemplateRef) -> Reply:
        reply = self.client.complete(role, messages, template=template)
        self.calls += 1
        self.tokens += reply.tokens_in + reply.tokens_out
        return reply

    # -- what a proposal must name ------------------------------------------------------------
    def selection_hint(self) -> str:
        if self.request.operation == "scratch":
            return "the class name of the new block (CamelCase, e.g. HybridBlock); it becomes the tree's root"
        parent = self.request.parents[0]
        units = ", ".join(self.changeable())
        return f"the one unit of {parent.name} the design rewrites: one of {units}"

    def changeable(self) -> list[str]:
        tree = self.request.parents[0].spec.tree
        return [n for n in tree.reachable() if n in tree.units and tree.units[n].code.strip()]

    def validate_selection(self, selection: str | None) -> None:
        """ValueError (fed back to the proposer) unless `selection` is what the operation needs."""
        if self.request.operation == "scratch":
            if not selection or not selection.isidentifier() or not selection[0].isupper():
                raise ValueError(f"selection must be {self.selection_hint()}; got {selection!r}")
            return
        if selection not in self.changeable():
            raise ValueError(f"selection {selection!r} is not a unit of {self.request.parents[0].name}; "
                             f"it must be {self.selection_hint()}")
