"""What each role answers, as pydantic models, and the call-parse-repair loop around them.

    proposal = ask(session, "proposer", "propose", ProposalReply, context, check=known_unit)

A reply is parsed from the model's text: JSON (bare or in a ```json fence) for the
proposer, reviewer, planner and observer; ```python fences for the coder. When the text
does not parse or validate (an empty reply included), the error is fed back in up to
`REPAIRS` repair calls; then the call fails with ReplyError. Every parse result is a
transcript event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from genesys.agents.llm import Reply, TemplateRef

REPAIRS = 2  # repair calls after a reply that does not parse (the limit)


class ReplyError(ValueError):
    """A role's reply did not parse after every repair call."""

    def __init__(self, role: str, template: str, error: str):
        self.role, self.template, self.error = role, template, error
        super().__init__(f"the {role}'s reply to {template} did not parse after {REPAIRS} repair calls: {error}")


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class SearchRequest(_Reply):
    """The proposer asks the knowledge engine before proposing."""

    search: list[str] = Field(min_length=1, max_length=5)

    @field_validator("search")
    @classmethod
    def _queries(cls, v: list[str]) -> list[str]:
        v = [q.strip() for q in v if q.strip()]
        if not v:
            raise ValueError("search needs at least one non-empty query")
        return v


class ProposalReply(_Reply):
    title: str = Field(min_length=3, max_length=200)
    motivation: str = Field(min_length=1)
    analysis: str = ""
    plan: str = Field(min_length=1)
    selection: str | None = None  # mutation/crossover: the one unit of the first parent it rewrites; scratch: the block


class ReviewReply(_Reply):
    rating: float = Field(ge=0, le=5)
    review: str = Field(min_length=1)
    suggestions: str = ""


class PlanReply(_Reply):
    unit: str
    action: Literal["implement", "reuse"] = "implement"
    reuse: str | None = None  # with action reuse: a library unit, or a parent's unit as "design.Unit"
    instructions: str = ""


class ObservationReply(_Reply):
    rating: float = Field(ge=0, le=5)
    review: str = Field(min_length=1)


class CodeReply(_Reply):
    """The coder's answer: one or more ```python blocks (one unit each) and its words around them."""

    units: list[str] = Field(min_length=1)
    rationale: str = ""


JSON_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)```", re.S)
PYTHON_FENCE = re.compile(r"```(?:python|py)\s*\n(.*?)```", re.S)

T = TypeVar("T", bound=BaseModel)


def json_object(text: str) -> dict[str, Any]:
    """The JSON object in `text`: a fenced block, else the outermost {...}."""
    if not text.strip():
        raise ValueError("the reply is empty; answer with the JSON object the task asks for")
    candidates = [m.group(1) for m in JSON_FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if start != -1:
        candidates.append(text[start:end + 1] if end > start else text[start:])  # unclosed: let json say where
    if not candidates:
        raise ValueError("the reply holds no JSON object; answer with one JSON object")
    error = ""
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError as err:
            error = f"the JSON does not parse: {err.msg} at line {err.lineno} column {err.colno}"
            continue
        if isinstance(value, dict):
            return value
        error = f"the JSON is a {type(value).__name__}, not an object"
    raise ValueError(error)


def parse_json(text: str, model: type[T]) -> T:
    data = json_object(text)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'reply'}: {e['msg']}" for e in err.errors())
        raise ValueError(f"the JSON does not fit: {problems}") from None


def parse_code(text: str) -> CodeReply:
    blocks = [b.strip("\n") + "\n" for b in PYTHON_FENCE.findall(text) if b.strip()]
    if not blocks:
        if not text.strip():
            raise ValueError("the reply is empty; answer with the unit's code in a ```python block")
        raise ValueError("the reply holds no ```python block; put the unit's whole source in one")
    return CodeReply(units=blocks, rationale=PYTHON_FENCE.sub("", text).strip())


def or_search(model: type[T], key: str) -> Callable[[str], T | SearchRequest]:
    """A parser of `model`, or of a search request when the reply has `search` and not `key`."""
    def parse(text: str) -> T | SearchRequest:
        data = json_object(text)
        if "search" in data and key not in data:
            return parse_json(text, SearchRequest)
        return parse_json(text, model)

    return parse


parse_proposal = or_search(ProposalReply, "title")
parse_review = or_search(ReviewReply, "rating")


class Asker(Protocol):
    """What `ask` needs from a session: its client's `complete`, its prompts and its transcript."""

    def call(self, role: str, messages: list[dict[str, str]], template: TemplateRef) -> Reply: ...

    def record(self, event: dict[str, Any]) -> None: ...


def ask(session: Asker, role: str, messages: list[dict[str, str]], template: TemplateRef,
        parse: Callable[[str], T], check: Callable[[T], None] | None = None) -> T:
    """Call `role`, parse its reply and `check` it (raising ValueError on a problem); repair calls feed the
    error back, at most REPAIRS of them. Raises ReplyError (and lets LLMError through)."""
    conversation = list(messages)
    error = ""
    for repair in range(REPAIRS + 1):
        reply = session.call(role, conversation, template)
        try:
            parsed = parse(reply.text)
            if check is not None:
                check(parsed)
        except ValueError as err:
            error = str(err)
            session.record({"event": "parse", "role": role, "template": template.name, "repair": repair,
                            "ok": False, "error": error})
            conversation = [*conversation, {"role": "assistant", "content": reply.text or "(empty)"},
                            {"role": "user", "content": f"Your answer could not be used: {error}\n"
                                                        "Answer the same task again, in the format it asks for."}]
            continue
        session.record({"event": "parse", "role": role, "template": template.name, "repair": repair, "ok": True})
        return parsed
    raise ReplyError(role, template.name, error)
