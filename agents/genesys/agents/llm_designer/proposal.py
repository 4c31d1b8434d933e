"""Proposal: the proposer writes, the reviewer rates, until a proposal reaches the threshold.

The proposer sees its parents (proposals, trees, code, fitness per rung), their earlier
children, the unit library and papers from the knowledge engine, and may ask for up to
`searchRounds` more searches before it writes. The reviewer sees the proposal, papers
found for it and the most similar earlier proposals (for novelty), and rates 0-5; a
proposal below `reviewerThreshold` goes back to the proposer with its review.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genesys.agents.llm_designer.context import paper_hits
from genesys.agents.llm_designer.replies import (
    ProposalReply,
    ReplyError,
    ReviewReply,
    SearchRequest,
    ask,
    parse_json,
    parse_proposal,
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


def _selection_check(session: LLMSession, searches_left: int):
    """The proposer's reply must be usable: a search while rounds remain, else a proposal naming a real unit."""
    def check(reply: ProposalReply | SearchRequest) -> None:
        if isinstance(reply, SearchRequest):
            if searches_left <= 0:
                raise ValueError("no search rounds are left: write the proposal now")
            return
        session.validate_selection(reply.selection)

    return check


def write_proposal(session: LLMSession, reviews: list[dict[str, Any]]) -> ProposalReply:
    """One proposal, after the searches the proposer asks for (raises ReplyError, LLMError)."""
    request = session.request
    seed_query = "; ".join(p["title"] for p in session.parent_views) or "a new language model block"
    searches = [{"query": seed_query, "papers": paper_hits(session.knowledge.search(seed_query, PAPERS_PER_SEARCH))}]
    rounds = session.spec.limits.search_rounds
    while True:
        messages, ref = session.prompts.render(
            "proposer", "propose", operation=request.operation, parents=session.parent_views,
            siblings=session.sibling_views, library=session.library_rows, searches=searches, reviews=reviews,
            searches_left=rounds - (len(searches) - 1), selection_hint=session.selection_hint())
        reply = ask(session, "proposer", messages, ref, parse_proposal,
                    _selection_check(session, rounds - (len(searches) - 1)))
        if isinstance(reply, ProposalReply):
            return reply
        for query in reply.search:
            searches.append({"query": query, "papers": paper_hits(session.knowledge.search(query, PAPERS_PER_SEARCH))})
        session.record({"event": "search", "role": "proposer", "queries": reply.search})


def review(session: LLMSession, proposal: ProposalReply) -> ReviewReply:
    text = f"{proposal.title}. {proposal.motivation}"
    papers = paper_hits(session.knowledge.search(text, PAPERS_PER_SEARCH))
    draft = Proposal(title=proposal.title, abstract=proposal.motivation)
    similar = [{"name": h.name, "title": h.title, "similarity": round(h.cosine, 3)}
               for h in session.designs.similar_to(draft, k=SIMILAR_PROPOSALS)]
    messages, ref = session.prompts.render(
        "reviewer", "review", operation=session.request.operation, parents=session.parent_views, proposal=proposal,
        papers=papers, similar=similar, threshold=session.spec.limits.reviewer_threshold)
    return ask(session, "reviewer", messages, ref, lambda text: parse_json(text, ReviewReply))


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
