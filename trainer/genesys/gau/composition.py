"""Tree of units -> block -> language model.

The LM is embedding -> n_block x block -> final RMSNorm -> LM head tied to the
embedding. The root unit is the block and owns its residuals and norms; `Z` (side
inputs such as rotary tables or recurrent state) flows through units and layers.

    lm = build_lm(load_design("gpt2"), vocab_size=4096, d_model=128, n_block=4)
    logits = lm(input_ids)  # (B, L, vocab_size)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from genesys.api import Design
from genesys.gau.base import RESIDUAL_PROJECTION_NAMES, GAUBase
from genesys.gau.compiler import compile_design

INIT_STD = 0.02  # GPT-2's init scale


class GAULanguageModel(nn.Module):
    """A decoder-only LM whose blocks are built from one design's unit tree."""

    def __init__(
        self,
        block_cls: type[GAUBase],
        vocab_size: int,
        d_model: int,
        n_block: int,
        kwarg_all: dict[str, Any],
        norm_eps: float = 1e-5,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        assert vocab_size > 0 and d_model > 0 and n_block > 0, (vocab_size, d_model, n_block)
        self.vocab_size, self.d_model, self.n_block = vocab_size, d_model, n_block
        factory = {"device": device, "dtype": dtype}
        self.embedding = nn.Embedding(vocab_size, d_model, **factory)
        self.blocks = nn.ModuleList(
            block_cls(embed_dim=d_model, block_loc=(i, n_block), kwarg_all=kwarg_all, **factory, **kwarg_all)
            for i in range(n_block)
        )
        self.norm = nn.RMSNorm(d_model, eps=norm_eps, **factory)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False, **factory)
        self.lm_head.weight = self.embedding.weight  # tied
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """GPT-2 init, then each unit's own `_init_weights` hook (children first)."""
        residual_std = INIT_STD / math.sqrt(2 * self.n_block)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear):
                leaf = name.rsplit(".", 1)[-1]
                std = residual_std if leaf in RESIDUAL_PROJECTION_NAMES else INIT_STD
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
        for module in reversed(list(self.modules())):
            if isinstance(module, GAUBase):
                module._init_weights()

    def forward(
        self, input_ids: torch.Tensor, return_z: bool = False, **Z: Any
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, Any]]:
        """Logits (B, L, vocab_size); with `return_z`, also the final Z, where units
        leave training signals such as a mixture-of-experts `aux_loss` to add to the loss."""
        X = self.embedding(input_ids)  # (B, L, D)
        for block in self.blocks:
            X, Z = block(X, **Z)
        logits = self.lm_head(self.norm(X))  # (B, L, vocab_size)
        return (logits, Z) if return_z else logits


def _factory(overrides: dict[str, Any]) -> dict[str, Any]:
    """`device` and `dtype` go to every module's constructor, never into kwarg_all."""
    return {k: overrides.pop(k) for k in ("device", "dtype") if k in overrides}


def build_block(design: Design, d_model: int, block_loc: tuple[int, int] = (0, 1), **overrides: Any) -> GAUBase:
    """One block of `design` on its own, e.g. to test or time a unit tree."""
    factory = _factory(overrides)
    root = compile_design(design)[design.spec.tree.root]
    return root(embed_dim=d_model, block_loc=block_loc, kwarg_all=overrides, **factory, **overrides)


def build_lm(design: Design, vocab_size: int, d_model: int, n_block: int, **overrides: Any) -> GAULanguageModel:
    """Build the language model of `design`.

    `overrides` are hyper-parameters handed to every unit through `kwarg_all`
    (e.g. `n_heads=8`); a unit's own `args` in the manifest take precedence;
    `device` and `dtype` are passed to every module. Build under
    `torch.device("meta")` to size a model without allocating it.
    """
    overrides = dict(overrides)
    factory = _factory(overrides)
    root = compile_design(design)[design.spec.tree.root]
    return GAULanguageModel(root, vocab_size, d_model, n_block, overrides, **factory)
