"""An audit hook that records every network connection and name lookup beyond 127.0.0.1.

The agent and knowledge tests use it (autouse fixtures in their conftest): the embedding model
must load offline, the default knowledge backend never leaves the process, and LLM calls go to
the scripted server on 127.0.0.1 only. Subprocesses are not seen; their tests point them at
127.0.0.1 explicitly.
"""

from __future__ import annotations

import contextlib
import socket
import sys

ALLOWED_HOSTS = {"127.0.0.1"}
_events: list[tuple[str, object]] = []
_active = [False]  # recording only while a guarded test runs (the hook stays for the whole process)
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
def guarded(what: str):
    _events.clear()
    _active[0] = True
    try:
        yield _events
    finally:
        _active[0] = False
    seen = list(_events)
    _events.clear()
    assert not seen, f"{what} must stay on 127.0.0.1, but saw {seen}"
