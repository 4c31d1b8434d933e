"""Knowledge-engine fixtures: the embedding model loaded once per session, and an audit hook that fails
any knowledge test which opens a network connection to anything but 127.0.0.1 (or resolves a name other
than localhost): the model must load offline and the default backend must never leave the process."""

from __future__ import annotations

import pytest

from network_guard import ALLOWED_HOSTS, guarded


@pytest.fixture(autouse=True)
def no_network():
    """Fails the test if it connected anywhere but 127.0.0.1 (session fixtures guard themselves)."""
    with guarded("knowledge tests") as events:
        yield events


@pytest.fixture
def allow_host():
    """allow_host(name): let this test reach `name` too (the opt-in Weaviate integration test)."""
    added: set[str] = set()

    def allow(host: str) -> None:
        added.add(host)
        ALLOWED_HOSTS.add(host)

    yield allow
    ALLOWED_HOSTS.difference_update(added - {"127.0.0.1"})


@pytest.fixture(scope="session")
def embedder():
    """The real embedding model's query function, loaded once (offline) for the whole session."""
    from genesys.knowledge import embed

    with guarded("loading the embedding model"):
        embed.embed_one("warm-up")
    return embed.embed_one


@pytest.fixture(scope="session")
def kb(embedder):
    from genesys.knowledge import KnowledgeBase

    return KnowledgeBase(embedder=embedder)
