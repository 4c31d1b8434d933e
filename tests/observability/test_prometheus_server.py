"""The test support's Prometheus: it starts, answers queries, and dies with the process that started it."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prometheus_server import PrometheusServer

SUPPORT = Path(__file__).resolve().parents[1] / "support"


def gone(pid: int) -> bool:
    """The process no longer runs (exited, or a zombie waiting for its reaper)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def test_the_server_answers_queries_and_refuses_bad_ones():
    with PrometheusServer(["127.0.0.1:9"]) as prometheus:  # nothing listens there: up is 0
        assert prometheus.query("1 + 1")[0]["value"][1] == "2"
        with pytest.raises(ValueError, match="parse error"):
            prometheus.query("sum(")
        pid = prometheus.process.pid if prometheus.process else 0
    assert gone(pid)


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus (apt-get install -y prometheus) is absent")
def test_the_server_dies_with_a_killed_test_process():
    code = (f"import sys, time; sys.path.insert(0, {str(SUPPORT)!r})\n"
            "from prometheus_server import PrometheusServer\n"
            "server = PrometheusServer(['127.0.0.1:9']).start()\n"
            "print(server.process.pid, flush=True)\n"
            "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())  # type: ignore[union-attr]
        assert not gone(pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(pid), f"prometheus {pid} outlived the process that started it"
