"""The genesys operator as a user runs it, against the emulated API server: real `kopf run`, real `kubectl`.

    with operator_process(kubeconfig, store, tmp_path / "operator.log") as op:
        kubectl(kubeconfig, "apply", "-f", "examples/evolution-quick.yaml")
        op.stop(); op.start()              # kill and restart it (fault tests)

Importable by name from any test (`from operator_harness import kubectl, operator_process`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
# The chart's store on a ReadWriteMany claim: the same path in the operator and in every pod.
STORE_CLAIM = "genesys-store"
STORE_ENV = {"GENESYS_STORE_PVC": STORE_CLAIM}
KOPF_AGENT = "kopf"  # kopf's requests carry this in their User-Agent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubectl(kubeconfig: Path | str, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    """Real kubectl with the emulator's kubeconfig; stdout and stderr captured as text."""
    done = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{done.stdout}")
    return done


def kubectl_objects(kubeconfig: Path | str, resource: str) -> list[dict[str, Any]]:
    listed = kubectl(kubeconfig, "get", resource, "-o", "yaml")
    return list(yaml.safe_load(listed.stdout).get("items") or [])


class OperatorProcess:
    """`kopf run --module genesys.operator.handlers` in a subprocess, with the chart's settings as env."""

    def __init__(self, kubeconfig: Path, store: Path, log: Path, *, namespace: str = "default",
                 plan_interval: float = 1.0, extra_env: dict[str, str] | None = None, peering: str | None = None):
        self.kubeconfig = kubeconfig
        self.log = log
        self.metrics_port = free_port()
        self.liveness_port = free_port()
        self.env = {
            **os.environ, "KUBECONFIG": str(kubeconfig), "GENESYS_NAMESPACE": namespace, "GENESYS_STORE": str(store),
            "GENESYS_AGENT_IMAGE": "genesys/agent:test", "GENESYS_TRAINER_IMAGE": "genesys/trainer:test",
            "GENESYS_PLAN_INTERVAL": str(plan_interval), "GENESYS_METRICS_PORT": str(self.metrics_port),
            "GENESYS_METRICS_ADDR": "127.0.0.1", **(extra_env or {}),
        }
        self.namespace = namespace
        self.peering = peering  # a KopfPeering's name, as the chart runs it; None: --standalone
        self.process: subprocess.Popen | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> None:
        peering = ["--peering", self.peering] if self.peering else ["--standalone"]
        argv = [sys.executable, "-m", "kopf", "run", "--module", "genesys.operator.handlers", *peering,
                "--namespace", self.namespace, "--liveness", f"http://127.0.0.1:{self.liveness_port}/healthz"]
        with self.log.open("a") as out:
            self.process = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                            start_new_session=True)
        self.wait_live()

    def wait_live(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"kopf exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2):
                    return
            time.sleep(0.3)
        raise AssertionError(f"kopf not live after {timeout}s:\n{self.tail()}")

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Stop it (SIGKILL by default: a crash, no clean-up of any kind)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)
        self.process = None

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


@contextlib.contextmanager
def operator_process(kubeconfig: Path, store: Path, log: Path, **kwargs: Any) -> Iterator[OperatorProcess]:
    op = OperatorProcess(kubeconfig, store, log, **kwargs)
    op.start()
    try:
        yield op
    finally:
        op.stop(signal.SIGTERM)


def wait_for(condition: Any, timeout: float, what: str, interval: float = 1.0, on_timeout: Any = None) -> Any:
    """Poll `condition()` until it returns something truthy; fail naming `what` (and `on_timeout()`'s text)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(interval)
    detail = on_timeout() if on_timeout is not None else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{detail}")


def nodes(kubeconfig: Path, root: Path, store: Path, **kwargs: Any) -> Any:
    """The process kubelet for namespace default: pods under `root`/nodes, the store claim mapped to
    `store` (where the operator reads it too), the caches shared between pods (a tokenizer is trained once)."""
    from process_kubelet import ProcessKubelet

    return ProcessKubelet(kubeconfig=str(kubeconfig), namespace="default", root=root / "nodes",
                          volume_dirs={"cache": str(root / "cache")}, claim_dirs={STORE_CLAIM: str(store)}, **kwargs)


def logical(obj: dict[str, Any]) -> str:
    """The core's name of an object the operator made (its annotation)."""
    return str(obj["metadata"]["annotations"]["genesys.dev/name"])
