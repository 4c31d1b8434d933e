"""How a runtime tells a training or checking process how many math threads to use.

Both sides of a process boundary import this (the runtimes set it, genesys.gau.determinism
reads it), so the names are defined once:

- ``GENESYS_THREADS``: the intra-op threads a process pins at start (default: every core
  it may use, from its affinity mask and cgroup quota, i.e. a pod's CPU limit);
- ``GENESYS_THREADS_FILE``: a file holding one whole number, rewritten by the local
  runtime whenever the work around the process changes; a trainer re-pins its pool when
  it changes, so a verification left alone takes every core. Results do not depend on
  the thread count (strict MKL reproducibility and fixed-order kernels), only speed does.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

THREADS_ENV = "GENESYS_THREADS"
THREADS_FILE_ENV = "GENESYS_THREADS_FILE"
MKL_CBWR = "AVX2,STRICT"  # oneMKL strict CNR: ?gemm gives the same bits for any thread count


def available_cores() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota (pods)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def thread_env(threads: int, threads_file: Path | None = None) -> dict[str, str]:
    """Environment that pins a child process's pools before it imports anything."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    n = str(threads)
    env = {THREADS_ENV: n, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "MKL_DYNAMIC": "FALSE", "MKL_CBWR": MKL_CBWR}
    if threads_file is not None:
        env[THREADS_FILE_ENV] = str(threads_file)
    return env


def write_threads_file(path: Path, threads: int) -> None:
    """Atomically (a reader sees the old number or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{threads}\n", encoding="ascii")
    os.replace(tmp, path)


def fair_shares(cores: int, nprocs: list[int]) -> list[int]:
    """Threads per process for jobs running `nprocs[i]` processes each, oldest first.

    Cores are split evenly between the jobs (the oldest take the remainder), then each
    job's share evenly between its processes; every process gets at least one thread.
    """
    if not nprocs:
        return []
    base, extra = divmod(max(1, cores), len(nprocs))
    return [max(1, (base + (i < extra)) // n) for i, n in enumerate(nprocs)]
