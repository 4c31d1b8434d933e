"""Knowledge-engine fixtures: the embedding model loaded once per session, and an audit hook that fails
any knowledge test which opens a network connection to anything but 127.0.0.1 (or resolves a name other
than localhost): the model must load offline and the default backend must never leave the process."""

from __future__ import annotations

import contextlib
import socket
import sys

import pytest

ALLOWED_HOSTS = {"127.0.0.1"}
_events: list[tuple[str, object]] = []
_active = [False]  # recording only while a knowledge test runs (the hook stays for the whole process)
_hook_installed = False


def forbidden(event: str, args: tuple) -> object | None:
    """The offending address of a socket.connect / socket.getaddrinfo audit event, None when allowed."""
    if event == "socket.connect":
        sock, address = args[0], args[1]
        if getattr(sock, "family", None) == socket.AF_UNIX:
            return None  # not a network connection
        host = address[0] if isinstance(address, tuple) else address
        return None if host in ALLOWED_HOSTS else address
    if event == "socket.getaddrinfo":
        host = args[0]
        host = host.decode() if isinstance(host, bytes) else host
        return None if host in ALLOWED_HOSTS | {"localhost", None} else host
    return None


def _hook(event: str, args: tuple) -> None:
    if _active[0] and event in ("socket.connect", "socket.getaddrinfo"):
        bad = forbidden(event, args)
        if bad is not None:
            _events.append((event, bad))


if not _hook_installed:  # audit hooks cannot be removed: one per process, cheap when idle
    sys.addaudithook(_hook)
    _hook_installed = True


@contextlib.contextmanager
def _guarded(what: str):
    _events.clear()
    _active[0] = True
    try:
        yield _events
    finally:
        _active[0] = False
    seen = list(_events)
    _events.clear()
    assert not seen, f"{what} must stay on 127.0.0.1, but saw {seen}"


@pytest.fixture(autouse=True)
def no_network():
    """Fails the test if it connected anywhere but 127.0.0.1 (session fixtures guard themselves)."""
    with _guarded("knowledge tests") as events:
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

    with _guarded("loading the embedding model"):
        embed.embed_one("warm-up")
    return embed.embed_one


@pytest.fixture(scope="session")
def kb(embedder):
    from genesys.knowledge import KnowledgeBase

    return KnowledgeBase(embedder=embedder)
