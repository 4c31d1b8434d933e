"""Checkpoints that survive preemption: written atomically, resumed exactly.

Layout under `<out>/checkpoints/`: `step-<N>/` holding `state.pt` (model, optimizer,
step, config; written by rank 0 as full state dicts, so DDP, FSDP2 and single
processes share one format) and `data-rank<r>.pt` (each rank's data position), and
`latest` naming the newest complete step. A checkpoint becomes visible only by the
rename of its finished directory, so a kill mid-write never leaves a torn one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

KEEP = 2  # complete checkpoints kept on disk


def _barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def latest_checkpoint(root: Path) -> Path | None:
    pointer = root / "latest"
    if not pointer.exists():
        return None
    path = root / pointer.read_text().strip()
    return path if (path / "state.pt").exists() else None


def save_checkpoint(
    root: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, data_state: dict, extra: dict[str, Any]
) -> Path:
    """Collective: every rank calls it. Returns the checkpoint directory."""
    rank = _rank()
    final, tmp = root / f"step-{step}", root / f"step-{step}.tmp"
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model_sd, optim_sd = get_state_dict(model, optimizer, options=options)
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    _barrier()
    torch.save(data_state, tmp / f"data-rank{rank}.pt")
    if rank == 0:
        torch.save({"step": step, "model": model_sd, "optimizer": optim_sd, **extra}, tmp / "state.pt")
    _barrier()
    if rank == 0:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        pointer_tmp = root / "latest.tmp"
        pointer_tmp.write_text(final.name)
        os.replace(pointer_tmp, root / "latest")
        steps = sorted((p for p in root.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp")),
                       key=lambda p: int(p.name.split("-")[1]))
        for old in steps[:-KEEP]:
            shutil.rmtree(old, ignore_errors=True)
    _barrier()
    return final


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], dict]:
    """Restore model and optimizer in place; return (the saved extras incl. step, this rank's data state)."""
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
    set_state_dict(
        model, optimizer, model_state_dict=state.pop("model"), optim_state_dict=state.pop("optimizer"),
        options=StateDictOptions(full_state_dict=True),
    )
    data_file = path / f"data-rank{_rank()}.pt"
    if not data_file.exists():
        raise RuntimeError(
            f"{path} has no data state for rank {_rank()}: it was written by a run with fewer processes; "
            "resume with the same number of processes or start a fresh output directory"
        )
    return state, torch.load(data_file, weights_only=False)
