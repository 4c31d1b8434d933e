"""Parameter counts, and fitting a design's width/depth to a parameter budget.

Designs are compared at equal size: `fit_to_params` picks `n_block` (and, if that is
not enough, `d_model`) so a design lands within a tolerance of a target count, as
the Genesys code's auto-tune does. Models are built on the meta device: no memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from genesys.api import Design
from genesys.gau.composition import build_lm


@dataclass(frozen=True)
class ParameterCount:
    total: int  # every parameter once (the tied LM head is the embedding)
    embedding: int
    non_embedding: int


@dataclass(frozen=True)
class FittedSize:
    d_model: int
    n_block: int
    params: ParameterCount
    target: int
    count: Literal["total", "non_embedding"]

    @property
    def relative_error(self) -> float:
        got = self.params.total if self.count == "total" else self.params.non_embedding
        return (got - self.target) / self.target


class SizingError(ValueError):
    """No width/depth brings the design within tolerance of the target size."""


def count_parameters(model: nn.Module) -> ParameterCount:
    total = sum(p.numel() for p in model.parameters())  # parameters() yields tied ones once
    embedding = model.embedding.weight.numel() if hasattr(model, "embedding") else 0
    return ParameterCount(total=total, embedding=embedding, non_embedding=total - embedding)


def design_parameters(design: Design, vocab_size: int, d_model: int, n_block: int, **overrides: Any) -> ParameterCount:
    """Parameter counts of `design` at this shape, without allocating the model."""
    with torch.device("meta"):
        return count_parameters(build_lm(design, vocab_size, d_model, n_block, **overrides))


def fit_to_params(
    design: Design,
    vocab_size: int,
    target: int,
    d_model: int,
    *,
    count: Literal["total", "non_embedding"] = "non_embedding",
    tolerance: float = 0.2,
    d_model_step: int = 64,
    max_n_block: int = 96,
    **overrides: Any,
) -> FittedSize:
    """Pick n_block (and d_model if needed) so the design's size is within tolerance of target.

    Depth is tried first at the requested width (block parameters are linear in
    n_block, so two builds give the best depth); widths move outward from
    `d_model` in steps of `d_model_step` only when no depth fits.
    """
    if target <= 0:
        raise SizingError(f"target parameter count must be positive, got {target}")
    best: FittedSize | None = None
    widths = [d_model] + [d_model + s * k * d_model_step for k in range(1, 9) for s in (-1, 1)]
    for width in (w for w in widths if w >= d_model_step):
        one = design_parameters(design, vocab_size, width, 1, **overrides)
        two = design_parameters(design, vocab_size, width, 2, **overrides)
        per_block = two.non_embedding - one.non_embedding
        fixed = (one.total if count == "total" else one.non_embedding) - per_block
        if per_block <= 0:
            raise SizingError(f"design {design.name}: a block has no parameters, cannot fit a size")
        guess = round((target - fixed) / per_block)
        for n in {max(1, min(max_n_block, g)) for g in (guess - 1, guess, guess + 1)}:
            params = design_parameters(design, vocab_size, width, n, **overrides)
            fit = FittedSize(width, n, params, target, count)
            if best is None or abs(fit.relative_error) < abs(best.relative_error):
                best = fit
        if best is not None and abs(best.relative_error) <= tolerance:
            return best
    assert best is not None
    raise SizingError(
        f"design {design.name}: no shape within {tolerance:.0%} of {target:,} {count} parameters "
        f"(closest: d_model={best.d_model}, n_block={best.n_block}, {best.relative_error:+.0%}); "
        "raise the tolerance or change the target"
    )
