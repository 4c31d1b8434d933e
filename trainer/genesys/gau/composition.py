"""Tree of units -> block -> language model.

The LM is embedding -> n_block x block -> final RMSNorm -> LM head tied to the
embedding. The root unit is the block and owns its residuals and norms; `Z` (side
inputs such as rotary tables or recurrent state) flows through units and layers.

The design's `spec.semantics` decides how its units run. "genesys-lm" (the default):
one `kwarg_all` shared by all blocks, GPT-2 init of every Linear. "genesys", as the
Genesys code runs designs: `_forward` sees only the Z entries it names, each block
gets a fresh copy of `kwarg_all` (a unit that edits it changes its own block only),
and the units keep the weights their constructors made (see `reset_parameters`).

    lm = build_lm(load_design("gpt2"), vocab_size=4096, d_model=128, n_block=4)
    logits = lm(input_ids)  # (B, L, vocab_size)
"""

from __future__ import annotations

import copy
import inspect
import math
from typing import Any, get_args

import torch
from torch import nn

from genesys.api import Design
from genesys.api.design import Semantics
from genesys.gau.base import RESIDUAL_PROJECTION_NAMES, GAUBase, set_semantics
from genesys.gau.compiler import compile_design

INIT_STD = 0.02  # GPT-2's init scale
# Under Genesys semantics, the weights its LM re-initializes (kaiming uniform / sqrt(n_block)).
GENESYS_RESIDUAL_WEIGHTS = ("out_proj.weight", "fc2.weight")


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
        semantics: Semantics = "genesys-lm",
    ):
        super().__init__()
        assert vocab_size > 0 and d_model > 0 and n_block > 0, (vocab_size, d_model, n_block)
        if semantics not in get_args(Semantics):
            raise ValueError(f"unknown semantics {semantics!r}: use one of {', '.join(get_args(Semantics))}")
        self.vocab_size, self.d_model, self.n_block = vocab_size, d_model, n_block
        self.semantics = semantics
        factory = {"device": device, "dtype": dtype}
        self.embedding = nn.Embedding(vocab_size, d_model, **factory)
        blocks = []
        for i in range(n_block):
            # Genesys builds each block from `**gab_config`, so each gets its own dict.
            block_kwargs = dict(kwarg_all) if semantics == "genesys" else kwarg_all
            blocks.append(
                block_cls(embed_dim=d_model, block_loc=(i, n_block), kwarg_all=block_kwargs, **factory, **block_kwargs)
            )
        self.blocks = nn.ModuleList(blocks)
        set_semantics(self.blocks, semantics)
        self.norm = nn.RMSNorm(d_model, eps=norm_eps, **factory)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False, **factory)
        self.lm_head.weight = self.embedding.weight  # tied
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """GPT-2 init, then each unit's own `_init_weights` hook (children first).

        Under Genesys semantics, what Genesys's LM does instead: the embedding gets
        N(0, 0.02), Linear biases are zeroed (unless marked `_no_reinit`), weights named
        out_proj/fc2 get kaiming-uniform / sqrt(n_block); every other weight keeps what
        the unit's constructor made. The `_init_weights()` hooks run in both cases; a
        Genesys-style `_init_weights(self, module)` helper is not a hook and is skipped.
        """
        if self.semantics == "genesys":
            self._genesys_init()
            for module in reversed(list(self.modules())):
                if isinstance(module, GAUBase) and _is_init_hook(module):
                    module._init_weights()
            return
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

    def _genesys_init(self) -> None:
        nn.init.normal_(self.embedding.weight, mean=0.0, std=INIT_STD)
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear) and module.bias is not None:
                if not getattr(module.bias, "_no_reinit", False):
                    nn.init.zeros_(module.bias)
            for name, p in module.named_parameters():
                if name in GENESYS_RESIDUAL_WEIGHTS:
                    nn.init.kaiming_uniform_(p, a=math.sqrt(5))
                    p.div_(math.sqrt(self.n_block))

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


def _is_init_hook(unit: GAUBase) -> bool:
    """Whether `unit._init_weights` is this project's no-argument hook (GAUBase's own included)."""
    try:
        inspect.signature(unit._init_weights).bind()
    except (TypeError, ValueError):
        return False
    return True


def _factory(overrides: dict[str, Any]) -> dict[str, Any]:
    """`device` and `dtype` go to every module's constructor, never into kwarg_all."""
    return {k: overrides.pop(k) for k in ("device", "dtype") if k in overrides}


def _kwarg_all(design: Design, overrides: dict[str, Any]) -> dict[str, Any]:
    """The design's `spec.kwargs` with the caller's overrides on top; the caller's wins.

    A deep copy: units that edit values in place never change the Design itself.
    """
    return {**copy.deepcopy(design.spec.kwargs), **overrides}


def build_block(design: Design, d_model: int, block_loc: tuple[int, int] = (0, 1), **overrides: Any) -> GAUBase:
    """One block of `design` on its own, e.g. to test or time a unit tree.

    It runs with the design's semantics; its weights are as its constructors made them.
    """
    factory = _factory(overrides)
    kwarg_all = _kwarg_all(design, overrides)
    root = compile_design(design)[design.spec.tree.root]
    block = root(embed_dim=d_model, block_loc=block_loc, kwarg_all=kwarg_all, **factory, **kwarg_all)
    set_semantics(block, design.spec.semantics)
    return block


def build_lm(design: Design, vocab_size: int, d_model: int, n_block: int, **overrides: Any) -> GAULanguageModel:
    """Build the language model of `design`.

    `overrides` are hyper-parameters handed to every unit through `kwarg_all`
    (e.g. `n_heads=8`), on top of the design's `spec.kwargs`; a unit's own `args` in
    the manifest take precedence; `device` and `dtype` are passed to every module.
    The design's `spec.semantics` applies. Build under `torch.device("meta")` to size
    a model without allocating it.
    """
    overrides = dict(overrides)
    factory = _factory(overrides)
    root = compile_design(design)[design.spec.tree.root]
    return GAULanguageModel(
        root, vocab_size, d_model, n_block, _kwarg_all(design, overrides), semantics=design.spec.semantics, **factory
    )
