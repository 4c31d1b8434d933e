"""Subprocesses for the local runtime: the same entry points the cluster's pods run.

    executor = Executor(cores=2, control_dir=run_dir / "threads")
    executor.start_session(...)        # python -m genesys.agents.session --job ...
    executor.start_verification(...)   # python -m torch.distributed.run --standalone ... verification --job
    for finished in executor.poll(): ...

Children run in their own process group (a terminal's Ctrl-C reaches only the
runner, which stops them in order) and get SIGTERM if the runner dies, even by
kill -9, so no orphan keeps training while a resumed run starts it again.

Threads: the cores are shared between the running verifications, and each share is
rewritten into the child's GENESYS_THREADS_FILE whenever one starts or ends, so a
verification left alone takes every core (results do not depend on thread counts).
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

from genesys.api.threads import fair_shares, thread_env, write_threads_file

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
    nproc: int = 1  # processes of a verification (torchrun)
    threads_file: Path | None = None  # the share of the cores this child follows
    threads: int = 1


@dataclass(frozen=True)
class Finished:
    kind: str
    name: str
    returncode: int
    log: Path


class Executor:
    """Starts, watches and stops the runtime's child processes."""

    def __init__(self, cores: int, control_dir: Path, threads_per_process: int | None = None,
                 python: str = sys.executable, extra_env: dict[str, str] | None = None):
        self.cores = cores
        self.control_dir = control_dir  # one threads file per verification
        self.threads_per_process = threads_per_process  # fixed: no sharing
        self.python = python
        self.extra_env = extra_env or {}
        self.children: dict[tuple[str, str], Child] = {}

    def _env(self, threads: int, threads_file: Path | None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(OFFLINE_ENV)
        env.update(thread_env(threads, threads_file))
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    def _start(self, kind: str, name: str, argv: list[str], log: Path, nproc: int = 1) -> Child:
        threads_file = None
        if kind == "verification" and self.threads_per_process is None:
            threads_file = self.control_dir / f"{name}.threads"
        threads = self._new_share(kind, nproc)
        if threads_file is not None:
            write_threads_file(threads_file, threads)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            out.write(f"\n$ {' '.join(argv)}\n".encode())
            out.flush()
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       env=self._env(threads, threads_file), start_new_session=True,
                                       preexec_fn=_die_with_parent)
        child = Child(kind, name, process, log, nproc, threads_file, threads)
        self.children[(kind, name)] = child
        self.rebalance()  # those already running give up their part of this one's share
        return child

    def _verifications(self) -> list[Child]:
        return [c for c in self.children.values() if c.kind == "verification"]

    def _new_share(self, kind: str, nproc: int) -> int:
        if self.threads_per_process is not None:
            return self.threads_per_process
        if kind != "verification":  # sessions are short; their checks time themselves on one thread
            return 1
        return fair_shares(self.cores, [c.nproc for c in self._verifications()] + [nproc])[-1]

    def rebalance(self) -> None:
        """Split the cores between the running verifications (oldest first) and tell each its share."""
        if self.threads_per_process is not None:
            return
        verifications = self._verifications()
        for child, threads in zip(verifications, fair_shares(self.cores, [c.nproc for c in verifications]),
                                  strict=True):
            if child.threads_file is not None and threads != child.threads:
                write_threads_file(child.threads_file, threads)
                child.threads = threads

    def start_session(self, *, name: str, job_file: str, out: str, log: Path) -> Child:
        """`job_file` and `out` are in the artifact store: local paths or URLs the child reads and writes."""
        argv = [self.python, "-m", "genesys.agents.session", "--job", str(job_file), "--out", str(out)]
        return self._start("session", name, argv, log)

    def start_verification(self, *, name: str, job_file: str, out: str, nproc: int, log: Path) -> Child:
        argv = [self.python, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                "-m", "genesys.trainer.verification", "--job", str(job_file), "--out", str(out)]
        return self._start("verification", name, argv, log, nproc)

    def poll(self) -> list[Finished]:
        """Children that exited since the last call."""
        done = []
        for key, child in list(self.children.items()):
            code = child.process.poll()
            if code is not None:
                del self.children[key]
                if child.threads_file is not None:
                    child.threads_file.unlink(missing_ok=True)
                done.append(Finished(child.kind, child.name, code, child.log))
        if done:
            self.rebalance()  # those still running take the cores that were freed
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
