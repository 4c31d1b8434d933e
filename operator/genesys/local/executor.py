"""Subprocesses for the local runtime: the same entry points the cluster's pods run.

    executor = Executor(threads=2)
    executor.start_session(...)        # python -m genesys.cli design ...
    executor.start_verification(...)   # python -m torch.distributed.run --standalone ... verification --job
    for finished in executor.poll(): ...

Children run in their own process group (a terminal's Ctrl-C reaches only the
runner, which stops them in order) and get SIGTERM if the runner dies, even by
kill -9, so no orphan keeps training while a resumed run starts it again.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: children may outlive a killed runner
        pass


@dataclass
class Child:
    kind: str  # "session" | "verification"
    name: str
    process: subprocess.Popen
    log: Path


@dataclass(frozen=True)
class Finished:
    kind: str
    name: str
    returncode: int
    log: Path


class Executor:
    """Starts, watches and stops the runtime's child processes."""

    def __init__(self, threads: int, python: str = sys.executable, extra_env: dict[str, str] | None = None):
        self.threads = threads
        self.python = python
        self.extra_env = extra_env or {}
        self.children: dict[tuple[str, str], Child] = {}

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(OFFLINE_ENV)
        env.update({"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads),
                    "PYTHONUNBUFFERED": "1"})
        env.update(self.extra_env)
        return env

    def _start(self, kind: str, name: str, argv: list[str], log: Path) -> Child:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            out.write(f"\n$ {' '.join(argv)}\n".encode())
            out.flush()
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       env=self._env(), start_new_session=True, preexec_fn=_die_with_parent)
        child = Child(kind, name, process, log)
        self.children[(kind, name)] = child
        return child

    def start_session(self, *, evolution_file: Path, store: Path, name: str, operation: str,
                      parents: tuple[str, ...], seed: int, out: Path, log: Path) -> Child:
        argv = [self.python, "-m", "genesys.cli", "design", "--evolution", str(evolution_file), "--store", str(store),
                "--name", name, "--operation", operation, "--seed", str(seed), "--out", str(out)]
        for parent in parents:
            argv += ["--parents", parent]
        return self._start("session", name, argv, log)

    def start_verification(self, *, name: str, job_file: Path, out: Path, nproc: int, log: Path) -> Child:
        argv = [self.python, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                "-m", "genesys.trainer.verification", "--job", str(job_file), "--out", str(out)]
        return self._start("verification", name, argv, log)

    def poll(self) -> list[Finished]:
        """Children that exited since the last call."""
        done = []
        for key, child in list(self.children.items()):
            code = child.process.poll()
            if code is not None:
                del self.children[key]
                done.append(Finished(child.kind, child.name, code, child.log))
        return done

    def stop_all(self, grace_seconds: float = 60.0) -> None:
        """SIGTERM every child's process group (trainers checkpoint on it), then SIGKILL stragglers."""
        for child in self.children.values():
            _signal_group(child.process, signal.SIGTERM)
        deadline = time.time() + grace_seconds
        for child in self.children.values():
            try:
                child.process.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait()
        self.children.clear()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
