"""Optimizer and learning-rate schedules for pretraining at one rung."""

from __future__ import annotations

import math

import torch
from torch import nn

from genesys.trainer.presets import RungConfig


def build_optimizer(model: nn.Module, rung: RungConfig, fused: bool = False) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (norm gains, biases, decays and embeddings are exempt)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and "embedding" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": rung.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=rung.lr, betas=(rung.beta1, rung.beta2), fused=fused or None)


def learning_rate(step: int, rung: RungConfig) -> float:
    """LR at optimizer step `step` (0-based): linear warmup, then cosine or warmup-stable-decay."""
    total = rung.steps
    warmup = max(1, round(rung.warmup_fraction * total))
    floor = rung.lr * rung.min_lr_ratio
    if step < warmup:
        return rung.lr * (step + 1) / warmup
    if rung.schedule == "cosine":
        progress = min(1.0, (step - warmup) / max(1, total - 1 - warmup))
        return floor + (rung.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    decay_start = total - max(1, round(rung.decay_fraction * total))
    if step < decay_start:
        return rung.lr
    progress = min(1.0, (step - decay_start) / max(1, total - 1 - decay_start))
    return rung.lr - (rung.lr - floor) * progress
