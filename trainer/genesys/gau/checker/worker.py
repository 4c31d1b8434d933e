"""The sandboxed child: runs the dynamic checks of one design and streams JSON lines.

    python -m genesys.gau.checker.worker PAYLOAD.json   # {"design": <manifest YAML>, "config": {...}}

Started by sandbox.py, never by hand. It limits itself (CPU time, address space),
keeps the result channel away from the design's prints, blocks file writes,
processes and sockets with an audit hook, then writes one line per event:
{"event": "start", "check": name}, {"event": "result", "result": {...}},
{"event": "blocked", "what": ...}, {"event": "done", ...}.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any, TextIO

# Audit events a design may never trigger once its code can run (defense in depth: the
# format check already rejects code that could reach them).
BLOCKED_PREFIXES = (
    "os.", "subprocess.", "socket.", "ctypes.", "shutil.", "pty.", "urllib.", "http.", "ftplib.", "smtplib.",
    "webbrowser.", "tempfile.", "pickle.", "sys.set", "sys.addaudithook", "code.__new__",
    "sqlite3.", "mmap.", "builtins.input",
)
ALLOWED_EVENTS = {"os.listdir", "os.scandir", "os.getxattr", "os.listxattr"}


def set_limits(cpu_seconds: float, memory_bytes: int) -> None:
    cpu = max(1, int(cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))  # SIGXCPU at the soft limit, SIGKILL at the hard
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Channel:
    """The result stream: the original stdout, kept private; fd 1 then points at stderr."""

    def __init__(self) -> None:
        self._out: TextIO = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def send(self, **event: Any) -> None:
        self._out.write(json.dumps(event, default=str) + "\n")
        self._out.flush()


def install_audit_hook(channel: Channel) -> None:
    state = {"busy": False}

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            mode = args[1] if len(args) > 1 else "r"
            flags = args[2] if len(args) > 2 else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if not writing:
                return
        elif event in ALLOWED_EVENTS or not event.startswith(BLOCKED_PREFIXES):
            return
        if not state["busy"]:
            state["busy"] = True
            try:
                channel.send(event="blocked", what=f"{event} {str(args)[:200]}")
            finally:
                state["busy"] = False
        raise PermissionError(f"the checker's sandbox blocked {event}: unit code may not touch files, "
                              "processes, the network or the interpreter")

    sys.addaudithook(hook)


def warm_up() -> None:
    """Trigger torch's lazy imports (optimizer, flop counter) and import the other modules units may use,
    before file access is blocked."""
    import einops  # noqa: F401  (unit code imports it from sys.modules)
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from genesys.gau.checker.costs import LiveTensorBytes

    p = torch.nn.Parameter(torch.randn(1, 1, 4, 8))
    opt = torch.optim.AdamW([p], lr=1e-3)
    with FlopCounterMode(display=False), LiveTensorBytes():
        F.scaled_dot_product_attention(p, p, p, is_causal=True).sum().backward()
    torch.nn.utils.clip_grad_norm_([p], 1.0)
    opt.step()


def _vm_peak_kb() -> int | None:
    """Peak address space, what RLIMIT_AS limits (Linux; read before file access is blocked)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main(argv: list[str]) -> int:
    channel = Channel()
    with open(argv[1], encoding="utf-8") as f:
        payload = json.load(f)
    from genesys.gau.checker.config import CheckConfig

    config = CheckConfig.from_dict(payload["config"])
    set_limits(config.cpu_limit, config.memory_bytes)

    from genesys.gau.determinism import pin_math

    pin_math(config.threads)
    from genesys.api import loads_manifest
    from genesys.api.design import Design
    from genesys.gau.checker.runner import run_checks
    from genesys.gau.checker.text import stdlib_text

    stdlib_text()  # read the sample before file access is blocked
    warm_up()
    design = loads_manifest(payload["design"], Design, "<design>")
    install_audit_hook(channel)
    start = time.perf_counter()
    run_checks(design, config, channel.send)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    channel.send(event="done", seconds=time.perf_counter() - start, cpu_seconds=usage.ru_utime + usage.ru_stime,
                 max_rss_kb=usage.ru_maxrss, vm_peak_kb=_vm_peak_kb())
    return 0


if __name__ == "__main__":
    try:
        code = main(sys.argv)
    except BaseException as err:  # report, then exit non-zero: the parent explains
        print(f"checker worker: {type(err).__name__}: {err}", file=sys.stderr)
        code = 3
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: design objects may misbehave in __del__
