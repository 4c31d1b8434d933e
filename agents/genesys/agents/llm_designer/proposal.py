"""Proposal: the proposer writes, the reviewer rates, until a proposal reaches the threshold.

The proposer sees its parents (proposals, trees, code, fitness per rung), their earlier
children, the unit library and papers from the knowledge engine. The reviewer sees the
proposal, papers found for it and the most similar earlier proposals (for novelty), and
rates 0-5; a proposal below `reviewerThreshold` goes back to the proposer with its review.
Both may ask for up to `searchRounds` rounds of further searches before they answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from genesys.agents.llm_designer.context import paper_hits
from genesys.agents.llm_designer.replies import (
    ProposalReply,
    ReplyError,
    ReviewReply,
    SearchRequest,
    ask,
    parse_proposal,
    parse_review,
)
from genesys.agents.llm_designer.session import LLMSession, SessionStop
from genesys.api import Proposal

PAPERS_PER_SEARCH = 4
SIMILAR_PROPOSALS = 4


@dataclass(frozen=True)
class Accepted:
    proposal: ProposalReply
    review: ReviewReply
    attempts: int

    def as_proposal(self) -> Proposal:
        body = [f"## Analysis\n\n{self.proposal.analysis}" if self.proposal.analysis else "",
                f"## Plan\n\n{self.proposal.plan}",
                f"## Review ({self.review.rating:g}/5)\n\n{self.review.review}"]
        return Proposal(title=self.proposal.title, abstract=self.proposal.motivation,
                        body="\n\n".join(b for b in body if b), rating=self.review.rating)


def searching(session: LLMSession, role: str, task: str, first_query: str, parse: Callable[[str], Any],
              check: Callable[[Any], None] | None = None, **context: Any) -> Any:
    """Ask `role`, which sees papers found for `first_query` and may ask for more searches (at most
    `searchRounds` rounds of up to 5 queries) before it answers; its final answer (raises ReplyError, LLMError)."""
    searches = [{"query": first_query, "papers": paper_hits(session.knowledge.search(first_query, PAPERS_PER_SEARCH))}]
    rounds = session.spec.limits.search_rounds
    while True:
        left = rounds - (len(searches) - 1)

        def usable(reply: Any, left: int = left) -> None:
            if isinstance(reply, SearchRequest):
                if left <= 0:
                    raise ValueError("no search rounds are left: answer the task now")
            elif check is not None:
                check(reply)

        messages, ref = session.prompts.render(role, task, searches=searches, searches_left=left, **context)
        reply = ask(session, role, messages, ref, parse, usable)
        if not isinstance(reply, SearchRequest):
            return reply
        for query in reply.search:
            searches.append({"query": query, "papers": paper_hits(session.knowledge.search(query, PAPERS_PER_SEARCH))})
        session.record({"event": "search", "role": role, "queries": reply.search})


def write_proposal(session: LLMSession, reviews: list[dict[str, Any]]) -> ProposalReply:
    """One proposal, after the searches the proposer asks for (raises ReplyError, LLMError)."""
    request = session.request
    seed_query = "; ".join(p["title"] for p in session.parent_views) or "a new language model block"
    reply: ProposalReply = searching(
        session, "proposer", "propose", seed_query, parse_proposal,
        lambda r: session.validate_selection(r.selection), operation=request.operation,
        parents=session.parent_views, siblings=session.sibling_views, library=session.library_rows,
        reviews=reviews, selection_hint=session.selection_hint())
    return reply


def review(session: LLMSession, proposal: ProposalReply) -> ReviewReply:
    """The reviewer's rating, after its searches; it sees the most similar earlier proposals (novelty)."""
    draft = Proposal(title=proposal.title, abstract=proposal.motivation)
    similar = [{"name": h.name, "title": h.title, "similarity": round(h.cosine, 3)}
               for h in session.designs.similar_to(draft, k=SIMILAR_PROPOSALS)]
    reply: ReviewReply = searching(
        session, "reviewer", "review", f"{proposal.title}. {proposal.motivation}", parse_review,
        operation=session.request.operation, parents=session.parent_views, proposal=proposal, similar=similar,
        threshold=session.spec.limits.reviewer_threshold)
    return reply


def propose(session: LLMSession) -> Accepted:
    """The first proposal the reviewer rates at the threshold or above (SessionStop after the attempts)."""
    limits = session.spec.limits
    reviews: list[dict[str, Any]] = []
    best: tuple[float, str] | None = None
    for attempt in range(1, limits.proposal_attempts + 1):
        try:
            proposal = write_proposal(session, reviews)
        except ReplyError as err:
            session.record({"event": "decision", "stage": "proposal", "attempt": attempt, "accepted": False,
                            "reason": str(err)})
            reviews.append({"title": "(unreadable)", "rating": 0, "review": err.error, "suggestions": ""})
            continue
        try:
            rated = review(session, proposal)
        except ReplyError as err:
            rated = ReviewReply(rating=0, review=f"(the review could not be read: {err.error})")
        accepted = rated.rating >= limits.reviewer_threshold
        session.record({"event": "decision", "stage": "proposal", "attempt": attempt, "title": proposal.title,
                        "selection": proposal.selection, "rating": rated.rating, "accepted": accepted})
        if accepted:
            session.designs.add_proposal(session.request.name, Proposal(title=proposal.title,
                                                                        abstract=proposal.motivation))
            return Accepted(proposal, rated, attempt)
        if best is None or rated.rating > best[0]:
            best = (rated.rating, proposal.title)
        reviews.append({"title": proposal.title, "rating": rated.rating, "review": rated.review,
                        "suggestions": rated.suggestions})
    detail = f"; best rating {best[0]:g} ({best[1]!r})" if best else ""
    raise SessionStop("proposal", f"no proposal reached the reviewer's threshold "
                                  f"{limits.reviewer_threshold:g} in {limits.proposal_attempts} attempts{detail}")
