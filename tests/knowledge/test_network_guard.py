"""The knowledge tests' network guard itself: it sees connections and tells local from remote."""

from __future__ import annotations

import socket
import sys


def test_guard_records_a_remote_connection_and_ignores_loopback(no_network):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with server, socket.create_connection(server.getsockname(), timeout=5):
        pass
    assert no_network == []  # 127.0.0.1 is allowed
    with socket.socket() as sock:
        # raise the audit event a connect to a remote address raises, without sending anything
        sys.audit("socket.connect", sock, ("192.0.2.7", 443))
        sys.audit("socket.getaddrinfo", "huggingface.co", 443, 0, 0, 0)
    assert no_network == [("socket.connect", ("192.0.2.7", 443)), ("socket.getaddrinfo", "huggingface.co")]
    no_network.clear()  # seen: this test must not fail on them
