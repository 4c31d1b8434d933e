"""Runs the dynamic checks in a separate, limited process and reads back its results.

The child (`python -m genesys.gau.checker.worker`) gets a scrubbed environment (no
credentials, offline hubs), a private temp dir as its cwd, CPU-time and address-space
limits it sets on itself, and a wall-clock limit enforced here by killing its process
group. Results stream back as JSON lines, so checks that finished before a crash count.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from genesys.api import Design, dump_manifest
from genesys.gau.checker.config import CheckConfig, GiB
from genesys.gau.checker.report import CheckResult

STDERR_TAIL = 4000  # characters of the child's stderr kept for the report


@dataclass
class SandboxOutcome:
    results: dict[str, CheckResult] = field(default_factory=dict)
    running: str | None = None  # the check that started but did not finish
    reason: str | None = None  # why the child did not finish normally; None if it did
    returncode: int | None = None
    wall: float = 0.0
    blocked: list[str] = field(default_factory=list)
    stderr_tail: str = ""
    done: dict[str, Any] | None = None


def child_env(home: str, threads: int) -> dict[str, str]:
    """Only what Python and torch need: no API keys, no tokens, hubs offline, no proxy."""
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV") if k in os.environ}
    # OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep instead of spinning; on a shared machine
    # spinning made the checks 3-5x slower (measured with 2 threads on 2 busy cores).
    env.update(
        HOME=home, TMPDIR=home, PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0", PYTHONUNBUFFERED="1",
        PYTHONNOUSERSITE="1", OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE",
        HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HOME=os.path.join(home, "hf"),
        TORCHINDUCTOR_CACHE_DIR=os.path.join(home, "inductor"),
        http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", no_proxy="", NO_PROXY="",
    )
    return env


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _read_events(stream, outcome: SandboxOutcome, lock: threading.Lock) -> None:
    for raw in stream:
        try:
            event = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(event, dict):
            continue
        with lock:
            kind = event.get("event")
            if kind == "start":
                outcome.running = str(event.get("check"))
            elif kind == "result":
                try:
                    result = CheckResult.from_dict(event["result"])
                except (KeyError, TypeError, ValueError, AssertionError):
                    continue
                outcome.results[result.name] = result
                if outcome.running == result.name:
                    outcome.running = None
            elif kind == "blocked" and len(outcome.blocked) < 20:  # a loop of attempts must not fill memory
                outcome.blocked.append(str(event.get("what", ""))[:300])
            elif kind == "done":
                outcome.done = event


def _read_tail(stream, tail: collections.deque) -> None:
    while True:
        chunk = stream.read(4096)
        if not chunk:
            return
        tail.append(chunk)


def run_sandboxed(design: Design, config: CheckConfig) -> SandboxOutcome:
    """Run the dynamic checks of `design` in a child process. Never raises for the design's faults."""
    outcome = SandboxOutcome()
    workdir = tempfile.mkdtemp(prefix="genesys-check-")
    try:
        payload = os.path.join(workdir, "payload.json")
        with open(payload, "w", encoding="utf-8") as f:
            json.dump({"design": dump_manifest(design), "config": config.to_dict()}, f)
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "genesys.gau.checker.worker", payload],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=workdir,
            env=child_env(workdir, config.threads), start_new_session=True, text=True, errors="replace",
        )
        lock = threading.Lock()
        tail: collections.deque = collections.deque(maxlen=STDERR_TAIL // 4096 + 2)
        readers = [
            threading.Thread(target=_read_events, args=(proc.stdout, outcome, lock), daemon=True),
            threading.Thread(target=_read_tail, args=(proc.stderr, tail), daemon=True),
        ]
        for r in readers:
            r.start()
        killed = False
        try:
            proc.wait(timeout=config.wall_seconds)
        except subprocess.TimeoutExpired:
            killed = True
        finally:
            try:  # the whole group: the child and anything it could have started
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        outcome.wall = time.monotonic() - start
        for r in readers:
            r.join(timeout=5)
        outcome.returncode = proc.returncode
        outcome.stderr_tail = "".join(tail)[-STDERR_TAIL:]
        outcome.reason = _reason(outcome, config, killed)
    except Exception as err:  # could not even start the child
        outcome.reason = f"could not run the sandboxed process ({type(err).__name__}: {err})"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return outcome


def _reason(outcome: SandboxOutcome, config: CheckConfig, killed: bool) -> str | None:
    memory = f"exceeded the memory limit ({config.memory_bytes / GiB:g} GiB of address space)"
    code = outcome.returncode
    if killed:
        return f"was killed after {config.wall_seconds:g} s wall clock (limit {config.wall_seconds:g} s)"
    if code == -signal.SIGXCPU:
        return f"exceeded the CPU-time limit ({config.cpu_limit:g} s of CPU time)"
    if code == -signal.SIGKILL:  # not ours: the CPU-time hard limit or the kernel's out-of-memory killer
        return (f"was killed by SIGKILL (the CPU-time hard limit of {config.cpu_limit + 5:g} s, or the machine "
                "ran out of memory)")
    stderr = outcome.stderr_tail.lower()
    if code not in (0, None) and any(s in stderr for s in ("bad_alloc", "memoryerror", "can't allocate memory",
                                                            "cannot allocate memory", "out of memory")):
        return memory
    if code != 0 or outcome.done is None:
        how = f"died with {_signal_name(code)}" if code is not None and code < 0 else f"exited with code {code}"
        return f"{how} before finishing"
    if any(r.details.get("memory_limit") for r in outcome.results.values()):
        return memory
    return None
