"""Training telemetry: rank-0 progress lines, metrics.jsonl, Prometheus gauges, MFU.

MFU uses FLOPs counted by torch's FlopCounterMode on one real micro-step (so it is
right for any design, not just attention) over the machine's measured peak: on CPU
a timed fp32 matmul, on CUDA a timed bf16 matmul.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode


def measure_peak_flops(device: torch.device, size: int = 1024, repeats: int = 8) -> float:
    """FLOP/s of a dense square matmul on `device` (fp32 on CPU, bf16 on CUDA)."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best


def count_step_flops(model: torch.nn.Module, ids: torch.Tensor) -> int:
    """FLOPs of one forward + backward on `ids` (B, T + 1)."""
    with FlopCounterMode(display=False) as counter:
        logits = model(ids[:, :-1])
        torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten()).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


class Telemetry:
    """Rank 0 writes; other ranks call it harmlessly."""

    def __init__(self, out_dir: Path, rank: int, metrics_port: int | None = None, labels: dict[str, str] | None = None):
        self.rank = rank
        self.path = out_dir / "metrics.jsonl"
        self.gauges: dict[str, Any] = {}
        self.server = None
        if rank == 0 and metrics_port is not None:
            from prometheus_client import CollectorRegistry, Gauge, start_http_server

            registry = CollectorRegistry()  # per run: a process may train several times (tests, sweeps)
            names = {"loss": "training loss", "tokens_per_second": "training throughput",
                     "mfu": "model FLOPs utilisation", "step": "optimizer steps done", "lr": "learning rate"}
            label_names = sorted(labels or {})
            for key, doc in names.items():
                gauge = Gauge(f"genesys_train_{key}", doc, label_names, registry=registry)
                self.gauges[key] = gauge.labels(**labels) if labels else gauge
            self.server, _ = start_http_server(metrics_port, addr="127.0.0.1", registry=registry)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def log(self, record: dict[str, Any], echo: bool = True) -> None:
        if self.rank != 0:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        for key, gauge in self.gauges.items():
            if key in record:
                gauge.set(record[key])
        if echo:
            parts = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()]
            print(" ".join(parts), file=sys.stderr, flush=True)


class ProgressBar:
    """A rich progress bar over optimizer steps on rank 0 of an interactive terminal; else nothing."""

    def __init__(self, rank: int, total: int, done: int, label: str):
        self.progress = None
        if rank == 0 and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
                                     console=Console(stderr=True), transient=True)
            self.task = self.progress.add_task(label, total=total, completed=done, status="")

    def __enter__(self) -> ProgressBar:
        if self.progress is not None:
            self.progress.start()
        return self

    def update(self, step: int, status: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step, status=status)

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
