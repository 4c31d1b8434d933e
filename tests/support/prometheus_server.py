"""A real Prometheus (Debian's `prometheus` binary) on 127.0.0.1 for tests: scrapes given targets every second.

    with PrometheusServer(["127.0.0.1:8000"]) as prometheus:
        prometheus.wait_for_scrapes(2)
        prometheus.query('sum(genesys_designs)')    # -> [{"metric": {...}, "value": [t, "4"]}, ...]

Storage and config live in a temporary directory that goes when it stops. The server dies
with the test process even on kill -9 (PR_SET_PDEATHSIG), and `PrometheusServer` skips the
test (pytest.skip) only when the binary is not installed.
"""

from __future__ import annotations

import ctypes
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

PR_SET_PDEATHSIG = 1
INSTALL_HINT = "apt-get install -y prometheus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the process that started it dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def config_text(targets: list[str], interval: str) -> str:
    """The scrape config: one job, `genesys`, scraping `targets` (host:port) every `interval`."""
    return json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "scrape_configs": [{"job_name": "genesys", "static_configs": [{"targets": targets}]}],
    })


class PrometheusServer:
    def __init__(self, targets: list[str], interval: str = "1s", binary: str | None = None,
                 start_timeout: float = 60.0):
        self.binary = binary or shutil.which("prometheus")
        if self.binary is None:
            pytest.skip(f"Debian's prometheus binary is not installed (not on PATH): {INSTALL_HINT}")
        self.targets = targets
        self.interval = interval
        self.start_timeout = start_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """What the server wrote so far (for failure messages)."""
        return (Path(self._dir.name) / "prometheus.log").read_text(errors="replace") if self._dir else ""

    def start(self) -> PrometheusServer:
        self._dir = tempfile.TemporaryDirectory(prefix="prometheus-")
        root = Path(self._dir.name)
        (root / "prometheus.yml").write_text(config_text(self.targets, self.interval))
        self.port = free_port()
        with open(root / "prometheus.log", "wb") as log:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root,
                preexec_fn=_die_with_parent)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with code {self.process.returncode} while starting:\n{self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus was not ready within {self.start_timeout} s:\n{self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the `data` of a successful answer (raises with Prometheus' error otherwise)."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as err:
            body = json.load(err)
        if body.get("status") != "success":
            raise ValueError(f"prometheus refused {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query at now: the series of its vector (a scalar comes back as one series)."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def scrapes(self, window: str = "1h") -> int:
        """Successful scrapes of the least-scraped target within `window` (`up` is 1 after each)."""
        counts = self.query(f'sum_over_time(up{{job="genesys"}}[{window}])')
        by_target = {s["metric"].get("instance"): int(float(s["value"][1])) for s in counts}
        return min((by_target.get(t, 0) for t in self.targets), default=0)

    def wait_for_scrapes(self, count: int, timeout: float = 30.0) -> None:
        """Until every target has been scraped successfully `count` more times than now."""
        goal = self.scrapes() + count
        deadline = time.monotonic() + timeout
        while self.scrapes() < goal:
            if time.monotonic() > deadline:
                raise TimeoutError(f"prometheus scraped {self.targets} {self.scrapes()} times, not {goal}, within "
                                   f"{timeout} s; targets: {self.api('targets')['activeTargets']}\n{self.log}")
            time.sleep(0.2)
